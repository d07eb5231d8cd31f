package accesslog

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEscape: whatever a client sends, the combined format's escaping
// gives one printable field (no control byte, no invalid UTF-8, no bare
// quote) that unescapes back to what was sent.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "/a?b", "a\"b\\c", "\n\r\x00\x7f", "\xff\xfe é", "GET / HTTP/1.1\" 200 -"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(appendEscaped(nil, s))
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 in %q", out)
		}
		for i := 0; i < len(out); i++ {
			c := out[i]
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control byte in %q", out)
			}
			if c == '\\' {
				i++ // the escaped byte, or the x of \xHH
				continue
			}
			if c == '"' {
				t.Fatalf("bare quote in %q", out)
			}
		}
		if back := unescape(t, out); back != s {
			t.Fatalf("%q escapes to %q, which unescapes to %q", s, out, back)
		}
		field := string(appendField(nil, s))
		if strings.ContainsAny(field, " \t") && !strings.HasPrefix(field, `"`) {
			t.Fatalf("unquoted field with a space: %q", field)
		}
	})
}

func unescape(t *testing.T, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == 'x' {
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				t.Fatalf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
