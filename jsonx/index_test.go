package jsonx

import (
	"fmt"
	"strings"
	"testing"
)

// describe renders members as "key=value/len/plain" joined by spaces.
func describe(ms []Member) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s=%s/%d", m.Key, m.Value, m.Len)
		if m.Plain {
			parts[i] += "/p"
		}
	}
	return strings.Join(parts, " ")
}

func TestIndexObject(t *testing.T) {
	tests := []struct {
		in      string
		depth   int
		want    string
		end     int
		wantErr string
	}{
		{`{}`, 3, ``, 2, ""},
		{` {"a":"x","b":1} {"c":2}`, 1, `a="x"/0/p b=1/0`, 16, ""},
		// Depth 2 records b's members after b, and not d's.
		{`{"a":1,"b":{"c":"y","d":{"e":2}},"f":[{"g":3}]}`, 2,
			`a=1/0 b={"c":"y","d":{"e":2}}/2 c="y"/0/p d={"e":2}/0 f=[{"g":3}]/0`, 47, ""},
		{`{"a":1,"b":{"c":"y","d":{"e":2}}}`, 3,
			`a=1/0 b={"c":"y","d":{"e":2}}/3 c="y"/0/p d={"e":2}/1 e=2/0`, 33, ""},
		{`{"b":{}}`, 3, `b={}/0`, 8, ""},
		// Escapes: the key is unescaped, the value is not plain.
		{`{"\u0061":"\n", "b" : "c" }`, 1, `a="\n"/0 b="c"/0/p`, 27, ""},
		{`{"a":1,`, 1, `a=1/0`, 0, "unexpected end of input"},
		{`{"a":{"b":1 x}}`, 3, `a=/0 b=1/0`, 0, "invalid character 'x' after object key:value pair at offset 12"},
		{`{"a":}`, 1, ``, 0, "invalid character '}' looking for beginning of value at offset 5"},
		{`[1]`, 1, ``, 0, "invalid character '[' looking for beginning of object at offset 0"},
		{`{"a":`, 1, ``, 0, "unexpected end of input"},
	}
	for _, tt := range tests {
		ms, end, err := IndexObject(nil, []byte(tt.in), tt.depth)
		if got := describe(ms); got != tt.want {
			t.Errorf("IndexObject(%q, %d) = %s, want %s", tt.in, tt.depth, got, tt.want)
		}
		if got := errString(err); got != tt.wantErr {
			t.Errorf("IndexObject(%q) error = %q, want %q", tt.in, got, tt.wantErr)
		} else if err == nil && end != tt.end {
			t.Errorf("IndexObject(%q) end = %d, want %d", tt.in, end, tt.end)
		}
	}
}

func TestMemberText(t *testing.T) {
	ms, _, err := IndexObject(nil, []byte(`{"a":"x y","b":"\u00e9\"","c":7}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		s  string
		ok bool
	}{{"x y", true}, {"é\"", true}, {"", false}} {
		if s, ok := ms[i].Text(); s != want.s || ok != want.ok {
			t.Errorf("member %s: Text() = %q, %v; want %q, %v", ms[i].Key, s, ok, want.s, want.ok)
		}
	}
}

// walk records what IndexObject should: the members of the object v and,
// within depth levels, of its object members, using ObjectEach.
func walk(v []byte, depth int) string {
	var parts []string
	ObjectEach(v, func(k, val []byte) error {
		sub := ""
		n := 0
		if depth > 1 && KindOf(val) == Object {
			sub = walk(val, depth-1)
			n = strings.Count(sub, "\x00")
		}
		plain := KindOf(val) == String && !strings.Contains(string(val), `\`)
		parts = append(parts, fmt.Sprintf("%q=%q/%d/%v\x00", k, val, n, plain)+sub)
		return nil
	})
	return strings.Join(parts, "")
}

// FuzzIndexObject checks IndexObject against ObjectPrefix: the same end and
// error, and the members ObjectEach finds level by level.
func FuzzIndexObject(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, depth int) {
		depth = 1 + (depth&7+7)%4 // 1..4
		ms, end, err := IndexObject(nil, b, depth)
		wantEnd, wantErr := ObjectPrefix(b, func(k, v []byte) error { return nil })
		if errString(err) != errString(wantErr) || err == nil && end != wantEnd {
			t.Fatalf("IndexObject(%q) = %d, %v; ObjectPrefix = %d, %v", b, end, err, wantEnd, wantErr)
		}
		if err != nil {
			return
		}
		var got strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&got, "%q=%q/%d/%v\x00", m.Key, m.Value, m.Len, m.Plain)
			if s, ok := m.Text(); ok != (KindOf(m.Value) == String) || ok && s != ValidString(m.Value) {
				t.Fatalf("member %q: Text() = %q, %v", m.Key, s, ok)
			}
		}
		if want := walk(b[:end], depth); got.String() != want {
			t.Fatalf("IndexObject(%q, %d):\n got %q\nwant %q", b, depth, got.String(), want)
		}
	})
}
