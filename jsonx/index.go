package jsonx

import "unsafe"

// A Member is one member of an object read by [IndexObject].
type Member struct {
	// Key is the unescaped key. It aliases the input unless the key had
	// escapes, in which case it is a copy of its own.
	Key []byte
	// Value is the raw value, trimmed of whitespace; it aliases the input.
	Value []byte
	// Len is the number of members recorded for Value: when Value is an
	// object within the indexed depth, its members and theirs, which follow
	// this member, so that the next member at this level is Len+1 further.
	Len int32
	// Plain reports that Value is a string token without escapes, whose
	// text is Value[1:len(Value)-1].
	Plain bool
}

// Text returns the text of a string-valued member, aliasing the input when
// the string has no escapes, and reports whether the value is a string.
func (m *Member) Text() (string, bool) {
	if m.Plain {
		s := m.Value[1 : len(m.Value)-1]
		return unsafe.String(unsafe.SliceData(s), len(s)), true
	}
	if KindOf(m.Value) != String {
		return "", false
	}
	return ValidString(m.Value), true
}

// Next returns the index of the member that follows ms[i] at its level.
func Next(ms []Member, i int) int { return i + 1 + int(ms[i].Len) }

// IndexObject reads the object that b starts with (after optional
// whitespace) in one pass, as [ObjectPrefix] does, and appends to dst its
// members and, down to depth levels of objects in all, the members of its
// object-valued members, in document order: each member is followed by the
// members recorded for its value. It returns the extended dst and the offset
// just past the object. Deeper values are validated but not recorded.
//
// Errors are as for [ObjectPrefix]; on error, dst holds what was recorded
// before it.
func IndexObject(dst []Member, b []byte, depth int) ([]Member, int, error) {
	i := skipSpace(b, 0)
	if i == len(b) {
		return dst, i, ErrIncomplete
	}
	if b[i] != '{' {
		return dst, i, invalidChar(b, i, " looking for beginning of object")
	}
	x := indexer{members: dst, depth: depth}
	end, err := x.object(b, i, 1)
	return x.members, end, err
}

type indexer struct {
	members []Member
	depth   int // levels of objects recorded
}

// object is [object] recording the members of the object at level, whose
// '{' is b[i]. It inlines the scan of plain strings (see skipString), which
// saves a call, and the reloads of every live register after it, for each
// key and most values.
func (x *indexer) object(b []byte, i, level int) (int, error) {
	if level > maxDepth {
		return i, &SyntaxError{Msg: "exceeded max depth", Offset: i}
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return i, ErrIncomplete
		}
		if b[i] != '"' {
			return i, invalidChar(b, i, " looking for beginning of object key string")
		}
		k := i + 1
		var err error
		var key []byte
		if i = plainEnd(b, k); i < len(b) && b[i] == '"' {
			i++
			key = b[k : i-1]
		} else {
			if i, err = stringRest(b, i); err != nil {
				return i, err
			}
			key = unescape(nil, b[k:i-1]) // rare: a copy of its own is fine
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, ErrIncomplete
		}
		if b[i] != ':' {
			return i, invalidChar(b, i, " after object key")
		}
		v := skipSpace(b, i+1)
		if v >= len(b) {
			return v, ErrIncomplete
		}
		switch c := b[v]; {
		case c == '"': // most values are strings
			plain := true
			if i = plainEnd(b, v+1); i < len(b) && b[i] == '"' {
				i++
			} else if i, err = stringRest(b, i); err != nil {
				return i, err
			} else {
				plain = false
			}
			x.push(key, b[v:i], plain)
		case c == '{' && level < x.depth:
			at := len(x.members)
			x.push(key, nil, false)
			if i, err = x.object(b, v, level+1); err != nil {
				return i, err
			}
			m := &x.members[at]
			m.Value, m.Len = b[v:i], int32(len(x.members)-at-1)
		default:
			if i, err = value(b, v, level); err != nil {
				return i, err
			}
			x.push(key, b[v:i], false)
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, ErrIncomplete
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, invalidChar(b, i, " after object key:value pair")
		}
	}
}

// push appends a member without subtree. Setting the fields of a slot in
// place costs a third of appending a composite literal, which Go builds on
// the stack and then copies.
func (x *indexer) push(key, value []byte, plain bool) {
	n := len(x.members)
	if n == cap(x.members) {
		x.members = append(x.members, Member{})
	}
	x.members = x.members[:n+1]
	m := &x.members[n]
	m.Key, m.Value, m.Len, m.Plain = key, value, 0, plain
}
