package jsonx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Raw is an encoded JSON value. [AppendValue] writes it as it is: it must be
// valid, compact JSON.
type Raw []byte

// Fields writes the members of a JSON object without its braces, so that
// fixed keys can be written around them without building a map.
//
// AppendFields appends `,"key":value` for each member, a comma before every
// member including the first, with the keys in byte-wise ascending order,
// and returns the extended slice. An object with no members appends nothing.
type Fields interface {
	AppendFields(b []byte) []byte
}

// AppendValue appends the compact JSON encoding of v to dst. v may be nil,
// a string, bool, int, int64, uint64, float64, [Raw], [Fields], []any,
// []string, or a map[string] of any, string, int or uint64; the elements of
// lists and maps follow the same rules. Map keys are written in byte-wise
// ascending order, so the output is deterministic.
//
// A float64 is written with the fewest digits that read back to the same
// value, without an exponent unless it is smaller than 1e-6 or at least 1e21
// in magnitude (as JavaScript and encoding/json write numbers); NaN and
// infinities are an error. On error, dst is returned as it was.
func AppendValue(dst []byte, v any) ([]byte, error) {
	b, err := appendValue(dst, v)
	if err != nil {
		return dst, err
	}
	return b, nil
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return AppendString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float64:
		return appendFloat(dst, v)
	case Raw:
		if len(v) == 0 {
			return dst, errors.New("jsonx: empty Raw value")
		}
		return append(dst, v...), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, s)
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendMap(dst, v, appendValue)
	case map[string]string:
		return appendMap(dst, v, func(b []byte, s string) ([]byte, error) { return AppendString(b, s), nil })
	case map[string]int:
		return appendMap(dst, v, func(b []byte, n int) ([]byte, error) { return strconv.AppendInt(b, int64(n), 10), nil })
	case map[string]uint64:
		return appendMap(dst, v, func(b []byte, n uint64) ([]byte, error) { return strconv.AppendUint(b, n, 10), nil })
	case Fields:
		return appendFields(dst, v)
	}
	return dst, fmt.Errorf("jsonx: unsupported type %T", v)
}

func appendMap[V any](dst []byte, m map[string]V, appendV func([]byte, V) ([]byte, error)) ([]byte, error) {
	var small [16]string // keeps the keys of small maps off the heap
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(AppendString(dst, k), ':')
		var err error
		if dst, err = appendV(dst, m[k]); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendFields writes f as an object: its leading comma becomes the '{'.
func appendFields(dst []byte, f Fields) ([]byte, error) {
	start := len(dst)
	dst = f.AppendFields(dst)
	switch {
	case len(dst) == start:
		return append(dst, '{', '}'), nil
	case dst[start] != ',':
		return dst, fmt.Errorf("jsonx: %T.AppendFields did not start with a comma", f)
	}
	dst[start] = '{'
	return append(dst, '}'), nil
}

func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, fmt.Errorf("jsonx: unsupported value %v", f)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// strconv writes at least two exponent digits: 1e-07 becomes 1e-7.
		if n := len(dst); dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// AppendCompact appends raw, a valid JSON value, to dst without the
// whitespace between its tokens.
func AppendCompact(dst, raw []byte) []byte {
	start := 0 // raw[start:i] is pending, to be copied as is
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			dst = append(dst, raw[start:i]...)
			start = i + 1
		}
	}
	return append(dst, raw[start:]...)
}
