// Package jsonx scans and encodes JSON without allocating.
//
// The scanning side walks raw JSON in place: [ObjectEach] and [ArrayEach]
// hand out the members of a container as sub-slices of the input,
// [StringView] turns a string token into a Go string that shares the input's
// memory, and [ValueEnd] finds where one value ends in a stream, telling an
// unfinished value ([ErrIncomplete]) apart from a syntax error
// ([*SyntaxError]); [ObjectPrefix] does both for an object in a stream, and
// [IndexObject] records the members of an object and of its nested objects
// in one pass. The input is validated as it is walked, with the same grammar
// and nesting limit as encoding/json.
//
// The encoding side appends compact JSON to a byte slice: [AppendString]
// escapes only what JSON requires (no HTML escaping, UTF-8 kept as is) and
// [AppendValue] writes maps with their keys in byte-wise order, so output is
// deterministic.
package jsonx

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
)

// Kind is the type of a JSON value, as told by its first byte.
type Kind uint8

// The kinds of JSON values. Invalid is the zero Kind.
const (
	Invalid Kind = iota
	String
	Number
	Object
	Array
	Bool
	Null
)

var kindNames = [...]string{"invalid", "string", "number", "object", "array", "bool", "null"}

// String returns the kind's name in lower case, e.g. "object".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// KindOf reports the kind of the raw value from its first byte. It does not
// skip whitespace and does not validate the rest of raw: an empty raw or one
// starting with any other byte is Invalid.
func KindOf(raw []byte) Kind {
	if len(raw) == 0 {
		return Invalid
	}
	switch c := raw[0]; {
	case c == '"':
		return String
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || '0' <= c && c <= '9':
		return Number
	}
	return Invalid
}

// ErrIncomplete is returned when the input ends inside a JSON value, so that
// more input could still complete it.
var ErrIncomplete = errors.New("unexpected end of input")

// A SyntaxError reports invalid JSON: the first byte, at Offset in the
// input, that cannot start or continue a valid value.
type SyntaxError struct {
	Msg    string // what is wrong, e.g. "invalid character 'x'"
	Offset int    // offset of the offending byte in the input
}

// Error returns the message and the offset, e.g.
// "invalid character 'x' looking for beginning of value at offset 12".
func (e *SyntaxError) Error() string {
	return e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// maxDepth is the deepest nesting of objects and arrays accepted, the same
// limit as encoding/json's, so that both agree on what is valid. It also
// bounds the recursion of the scanner.
const maxDepth = 10000

func invalidChar(b []byte, i int, context string) error {
	return &SyntaxError{Msg: "invalid character " + quoteChar(b[i]) + context, Offset: i}
}

// quoteChar formats c for an error message: 'x', '\n', '\xff'.
func quoteChar(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	s := strconv.Quote(string([]byte{c}))
	return "'" + s[1:len(s)-1] + "'"
}

// ValueEnd scans the first JSON value in b, after optional leading
// whitespace, and returns the offset just past its last byte. Bytes after the
// value are not looked at, so ValueEnd finds one value in a stream. When b
// ends before the value is complete (including when b is empty or only
// whitespace), the error is [ErrIncomplete]; a number that reaches the end of
// b counts as complete. Any other error is a [*SyntaxError] whose Offset is
// the first byte that makes b invalid: b[:Offset] is then still incomplete.
func ValueEnd(b []byte) (end int, err error) {
	return value(b, skipSpace(b, 0), 0)
}

// Valid reports whether b is exactly one JSON value, optionally surrounded
// by whitespace. It agrees with encoding/json.Valid.
func Valid(b []byte) bool {
	end, err := ValueEnd(b)
	return err == nil && skipSpace(b, end) == len(b)
}

// ObjectEach calls fn for each member of the JSON object obj, in order, with
// the unescaped key and the raw value (trimmed of whitespace). Whitespace
// around the object is allowed. A key without escapes aliases obj; in any
// case key is valid only until fn returns. value aliases obj. Duplicate keys
// are all passed to fn (callers that follow encoding/json keep the last).
//
// obj is validated as it is walked, so fn may already have been called for
// the members before a syntax error. An error from fn stops the walk and is
// returned as is. Otherwise the error is [ErrIncomplete] or a
// [*SyntaxError] with an offset into obj.
func ObjectEach(obj []byte, fn func(key, value []byte) error) error {
	end, err := ObjectPrefix(obj, fn)
	if err != nil {
		return err
	}
	return trailing(obj, end)
}

// ObjectPrefix is [ObjectEach] for a stream: it walks the object that b
// starts with (after optional whitespace) and returns the offset just past
// it, without looking at what follows, as [ValueEnd] does. It lets a reader
// split and walk a message in a single pass.
func ObjectPrefix(b []byte, fn func(key, value []byte) error) (end int, err error) {
	i := skipSpace(b, 0)
	if i == len(b) {
		return i, ErrIncomplete
	}
	if b[i] != '{' {
		return i, invalidChar(b, i, " looking for beginning of object")
	}
	return object(b, i, 0, fn, nil)
}

// ArrayEach calls fn for each element of the JSON array arr, in order, with
// its index and raw value (trimmed, aliasing arr). Validation and errors are
// as for [ObjectEach].
func ArrayEach(arr []byte, fn func(i int, value []byte) error) error {
	i := skipSpace(arr, 0)
	if i == len(arr) {
		return ErrIncomplete
	}
	if arr[i] != '[' {
		return invalidChar(arr, i, " looking for beginning of array")
	}
	end, err := array(arr, i, 0, fn)
	if err != nil {
		return err
	}
	return trailing(arr, end)
}

// trailing checks that only whitespace follows offset i.
func trailing(b []byte, i int) error {
	if i = skipSpace(b, i); i < len(b) {
		return invalidChar(b, i, " after top-level value")
	}
	return nil
}

// spaceMask has bit c set for each whitespace byte c.
const spaceMask = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\r'

func skipSpace(b []byte, i int) int {
	// Compact JSON has no whitespace: one comparison settles most calls.
	for i < len(b) && b[i] <= ' ' && spaceMask>>b[i]&1 != 0 {
		i++
	}
	return i
}

// value scans the value starting at b[i], nested in depth containers, and
// returns the offset just past it.
func value(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, ErrIncomplete
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := skipString(b, i)
		return end, err
	case c == '{':
		return object(b, i, depth, nil, nil)
	case c == '[':
		return array(b, i, depth, nil)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || '0' <= c && c <= '9':
		return number(b, i)
	}
	return i, invalidChar(b, i, " looking for beginning of value")
}

// A walker records the members of the objects of the first record levels
// of an object (see [IndexObject]).
type walker struct {
	members []Member
	record  int
}

// object scans the object whose '{' is b[i], nested in depth containers,
// and returns the offset just past it. On the way it calls fn (when not
// nil) with each member, and records members as w (when not nil) asks; fn
// is a parameter of its own, not a field of w, so that the closures callers
// pass do not escape. Plain strings are scanned inline (see skipString),
// which saves a call, and the reload of every live register after it, for
// each key and most values.
func object(b []byte, i, depth int, fn func(key, value []byte) error, w *walker) (int, error) {
	if depth++; depth > maxDepth {
		return i, &SyntaxError{Msg: "exceeded max depth", Offset: i}
	}
	record := w != nil && depth <= w.record
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
			if key = b[k : i-1]; record || fn != nil {
				key = unescape(nil, key) // rare: a copy of its own is fine
			}
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
			if record {
				w.push(key, b[v:i], plain)
			}
		case c == '{' && record && depth < w.record:
			// Recorded before its members, which follow it.
			at := len(w.members)
			w.push(key, nil, false)
			if i, err = object(b, v, depth, nil, w); err != nil {
				return i, err
			}
			m := &w.members[at]
			m.Value, m.Len = b[v:i], int32(len(w.members)-at-1)
		default:
			if i, err = value(b, v, depth); err != nil {
				return i, err
			}
			if record {
				w.push(key, b[v:i], false)
			}
		}
		if fn != nil {
			if err := fn(key, b[v:i]); err != nil {
				return i, err
			}
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

// push records a member whose value has no recorded members. Setting the
// fields of a slot in place costs a third of appending a composite literal,
// which Go builds on the stack and then copies.
func (w *walker) push(key, value []byte, plain bool) {
	n := len(w.members)
	if n == cap(w.members) {
		w.members = append(w.members, Member{})
	}
	w.members = w.members[:n+1]
	m := &w.members[n]
	m.Key, m.Value, m.Len, m.Plain = key, value, 0, plain
}

// array scans the array whose '[' is b[i], calling fn (when not nil) for
// each element as soon as it has been scanned.
func array(b []byte, i, depth int, fn func(i int, value []byte) error) (int, error) {
	if depth++; depth > maxDepth {
		return i, &SyntaxError{Msg: "exceeded max depth", Offset: i}
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		v := i
		var err error
		if i, err = value(b, v, depth); err != nil {
			return i, err
		}
		if fn != nil {
			if err := fn(n, b[v:i]); err != nil {
				return i, err
			}
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, ErrIncomplete
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, invalidChar(b, i, " after array element")
		}
	}
}

// plain marks the bytes that stand for themselves inside a string: not a
// control character, not '"' and not '\\'. Bytes >= 0x80 are passed through
// unchecked, as encoding/json's scanner does.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// skipString scans the string whose opening quote is b[i], and reports
// whether it has escapes.
func skipString(b []byte, i int) (end int, escaped bool, err error) {
	if i = plainEnd(b, i+1); i < len(b) && b[i] == '"' {
		return i + 1, false, nil
	}
	end, err = stringRest(b, i)
	return end, true, err
}

// stringRest scans the rest of a string from b[i], inside it.
func stringRest(b []byte, i int) (int, error) {
	for {
		if i = plainEnd(b, i); i >= len(b) {
			return i, ErrIncomplete
		}
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
			if i >= len(b) {
				return i, ErrIncomplete
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				for range 4 {
					if i++; i >= len(b) {
						return i, ErrIncomplete
					}
					if unhex(b[i]) < 0 {
						return i, invalidChar(b, i, " in \\u hexadecimal character escape")
					}
				}
				i++
			default:
				return i, invalidChar(b, i, " in string escape code")
			}
		default:
			return i, invalidChar(b, i, " in string literal")
		}
	}
}

// Constants for scanning eight bytes at a time: every byte 0x01, every byte
// 0x80.
const ones, highs = 0x0101010101010101, 0x8080808080808080

// plainEnd returns the offset of the first byte at or after b[i] that is
// not plain (or len(b)).
func plainEnd(b []byte, i int) int {
	// Eight bytes at a time: a word's flag bits mark its bytes that are
	// '"', '\\' or below 0x20 (a byte minus 0x20, or minus 1 after the XOR,
	// turns its high bit on only from below; q and bs have the high bits of
	// x, so &^x drops bytes >= 0x80). The lowest flag is always exact, as
	// borrows only carry past a flagged byte, and it is all that is needed.
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ ('"' * ones)
		bs := x ^ ('\\' * ones)
		flags := ((x - 0x20*ones) | (q - ones) | (bs - ones)) &^ x & highs
		if flags != 0 {
			return i + bits.TrailingZeros64(flags)/8
		}
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// literal scans true, false or null at b[i].
func literal(b []byte, i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(b) {
			return i + k, ErrIncomplete
		}
		if b[i+k] != lit[k] {
			return i + k, invalidChar(b, i+k, " in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// number scans a number at b[i]. Digits running to the end of b complete it.
func number(b []byte, i int) (int, error) {
	if b[i] == '-' {
		if i++; i >= len(b) {
			return i, ErrIncomplete
		}
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = digits(b, i+1)
	default:
		return i, invalidChar(b, i, " in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) {
			return i, ErrIncomplete
		}
		if !isDigit(b[i]) {
			return i, invalidChar(b, i, " after decimal point in numeric literal")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			return i, ErrIncomplete
		}
		if !isDigit(b[i]) {
			return i, invalidChar(b, i, " in exponent of numeric literal")
		}
		i = digits(b, i+1)
	}
	return i, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}
