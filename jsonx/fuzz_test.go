package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

var fuzzSeeds = []string{
	`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1e2,"echo":"a\u00e9\n"}}`,
	`{"a":[1,2.5e-3,{"b":null}],"a":true,"\ud83d\ude00":"x"}`,
	`[1, "2", [], {}]`,
	`{"a":1,}`,
	`"\ud800"`,
	"\"\xff\"",
	`-0.0e+0`,
	`{"a" :`,
	` nul`,
	`{}{}`,
}

// FuzzValueEnd checks ValueEnd and Valid against encoding/json.Valid, and
// that ErrIncomplete and syntax-error offsets mean what they say.
func FuzzValueEnd(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
		end, err := ValueEnd(b)
		var se *SyntaxError
		switch {
		case err == nil:
			if end < 1 || end > len(b) || !json.Valid(b[:end]) {
				t.Fatalf("ValueEnd(%q) = %d, but b[:end] is not valid", b, end)
			}
		case errors.As(err, &se):
			if se.Offset < 0 || se.Offset >= len(b) {
				t.Fatalf("ValueEnd(%q): offset %d out of range", b, se.Offset)
			}
			// Everything before the offending byte is an unfinished value.
			if _, err := ValueEnd(b[:se.Offset]); err != ErrIncomplete {
				t.Fatalf("ValueEnd(%q) failed at %d, but the prefix gives %v", b, se.Offset, err)
			}
		case err == ErrIncomplete:
			if json.Valid(b) {
				t.Fatalf("ValueEnd(%q) says incomplete, encoding/json says valid", b)
			}
		default:
			t.Fatalf("ValueEnd(%q): unexpected error type %T", b, err)
		}
		if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) {
			pend, perr := ObjectPrefix(b, func(k, v []byte) error { return nil })
			if errString(perr) != errString(err) || err == nil && pend != end {
				t.Fatalf("ObjectPrefix(%q) = %d, %v; ValueEnd = %d, %v", b, pend, perr, end, err)
			}
		}
		if err != nil || len(b) > 256 {
			return
		}
		// Every proper prefix of a value is unfinished, except where it
		// ends in digits that already make a number.
		for i := range end {
			_, perr := ValueEnd(b[:i])
			if perr != ErrIncomplete && !(perr == nil && KindOf(bytes.TrimLeft(b, " \t\r\n")) == Number) {
				t.Fatalf("ValueEnd(%q) = %d, but prefix %q gives %v", b, end, b[:i], perr)
			}
		}
	})
}

// FuzzObjectEach checks that ObjectEach accepts exactly the valid objects and
// sees the members encoding/json sees.
func FuzzObjectEach(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		type member struct{ key, value string }
		var got []member
		err := ObjectEach(b, func(k, v []byte) error {
			got = append(got, member{string(k), string(v)})
			if KindOf(v) == String {
				// A walked string token: the fast path must agree.
				if want, err := StringView(v); err != nil || ValidString(v) != want {
					t.Fatalf("ValidString(%q) = %q, StringView = %q, %v", v, ValidString(v), want, err)
				}
			}
			return nil
		})
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		isObject := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != isObject {
			t.Fatalf("ObjectEach(%q) = %v, but valid object = %v", b, err, isObject)
		}
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		for i := 0; dec.More(); i++ {
			tok, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatal(err)
			}
			if i >= len(got) {
				t.Fatalf("ObjectEach(%q) saw %d members, encoding/json more", b, len(got))
			}
			// encoding/json replaces each invalid UTF-8 byte with U+FFFD;
			// ObjectEach passes bytes through.
			if key := string([]rune(got[i].key)); key != tok.(string) {
				t.Fatalf("ObjectEach(%q) member %d key %q, encoding/json %q", b, i, key, tok)
			}
			if got[i].value != string(raw) {
				t.Fatalf("ObjectEach(%q) member %d value %q, encoding/json %q", b, i, got[i].value, raw)
			}
			if KindOf(raw) == String {
				var want string
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
				if s, err := StringView(raw); err != nil || string([]rune(s)) != want {
					t.Fatalf("StringView(%s) = %q, %v; encoding/json %q", raw, s, err, want)
				}
			}
		}
	})
}

// FuzzAppendString checks that AppendString round-trips through
// encoding/json and StringView, and escapes nothing beyond what is required.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c\n\x00\x7f", "é&<>\u2028", "\xff\xe2\x82", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		want := string([]rune(s)) // invalid UTF-8 bytes become U+FFFD
		var got string
		if err := json.Unmarshal(enc, &got); err != nil || got != want {
			t.Fatalf("AppendString(%q) = %s: encoding/json reads %q, %v; want %q", s, enc, got, err, want)
		}
		view, err := StringView(enc)
		if err != nil || view != want {
			t.Fatalf("StringView(AppendString(%q)) = %q, %v", s, view, err)
		}
		// Only '"', '\\' and control characters are escaped, so the output
		// is as long as the valid text plus the escapes.
		size := 2
		for _, r := range want {
			switch {
			case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
				size += 2
			case r < 0x20:
				size += 6
			default:
				size += len(string(r))
			}
		}
		if len(enc) != size {
			t.Fatalf("AppendString(%q) = %s: %d bytes, want %d", s, enc, len(enc), size)
		}
	})
}
