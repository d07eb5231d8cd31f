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
// '{' is b[i].
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
		k := i
		end, escaped, err := skipString(b, i)
		if err != nil {
			return end, err
		}
		key := b[k+1 : end-1]
		if escaped {
			key = unescape(nil, key) // rare: a copy of its own is fine
		}
		if i = skipSpace(b, end); i >= len(b) {
			return i, ErrIncomplete
		}
		if b[i] != ':' {
			return i, invalidChar(b, i, " after object key")
		}
		v := skipSpace(b, i+1)
		at := len(x.members)
		x.members = append(x.members, Member{Key: key})
		plain := false
		switch {
		case v >= len(b):
			return v, ErrIncomplete
		case b[v] == '"': // most values are strings
			i, escaped, err = skipString(b, v)
			plain = !escaped
		case b[v] == '{' && level < x.depth:
			i, err = x.object(b, v, level+1)
		default:
			i, err = value(b, v, level)
		}
		if err != nil {
			return i, err
		}
		m := &x.members[at]
		m.Value, m.Plain = b[v:i], plain
		m.Len = int32(len(x.members) - at - 1)
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
