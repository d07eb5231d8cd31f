package jsonx

import "l7lb/strview"

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
		return strview.Of(s), true
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
	w := walker{members: dst, record: depth}
	end, err := object(b, i, 0, nil, &w)
	return w.members, end, err
}
