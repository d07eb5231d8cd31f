package jsonx

import (
	"strings"
	"testing"
	"unsafe"
)

func TestStringView(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr string
	}{
		{`""`, "", ""},
		{`"abc"`, "abc", ""},
		{`"a&<>é"`, "a&<>é", ""},
		{"\"\xff\"", "\xff", ""},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", ""},
		{`"\u0041\u00e9\u20AC"`, "Aé€", ""},
		{`"\ud83d\ude00"`, "😀", ""},
		{`"\ud83dx"`, "\uFFFDx", ""},
		{`"\ude00\ud83d"`, "\uFFFD\uFFFD", ""},
		{`"\ud83d\u0041"`, "\uFFFDA", ""},
		{`"\u0000"`, "\x00", ""},

		{``, "", "unexpected end of input"},
		{`"abc`, "", "unexpected end of input"},
		{`"`, "", "unexpected end of input"},
		{`abc`, "", "invalid character 'a' looking for beginning of string at offset 0"},
		{`"a"b`, "", "invalid character 'b' after top-level value at offset 3"},
		{`"a" `, "", "invalid character ' ' after top-level value at offset 3"},
		{`"\q"`, "", "invalid character 'q' in string escape code at offset 2"},
		{"\"a\tb\"", "", `invalid character '\t' in string literal at offset 2`},
		{`"\u00"`, "", `invalid character '"' in \u hexadecimal character escape at offset 5`},
	}
	for _, tt := range tests {
		got, err := StringView([]byte(tt.raw))
		if errString(err) != tt.wantErr {
			t.Errorf("StringView(%q) error = %v, want %q", tt.raw, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("StringView(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestStringViewAliases(t *testing.T) {
	raw := []byte(`"hello"`)
	s, err := StringView(raw)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.StringData(s) != &raw[1] {
		t.Error("StringView copied a string without escapes")
	}
	raw[1] = 'j'
	if s != "jello" {
		t.Errorf("after changing raw, s = %q, want %q", s, "jello")
	}
	if n := testing.AllocsPerRun(100, func() { s, _ = StringView(raw) }); n != 0 {
		t.Errorf("StringView allocates %v times", n)
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f\""},
		{"a&b<c>d", `"a&b<c>d"`},
		{"é€😀\u2028", "\"é€😀\u2028\""},
		{"a\xffb", "\"a\uFFFDb\""},
		{"\xe2\x82", "\"\uFFFD\uFFFD\""}, // a truncated sequence: one U+FFFD per byte
		{"\xed\xa0\x80", "\"\uFFFD\uFFFD\uFFFD\""},
	}
	for _, tt := range tests {
		if got := string(AppendString([]byte("x"), tt.in)); got != "x"+tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got[1:], tt.want)
		}
	}
}

// TestWordScans checks the eight-bytes-at-a-time scans against plain loops,
// for every position of a stop byte in and around the words.
func TestWordScans(t *testing.T) {
	for size := range 20 {
		for pos := range size {
			for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x7f, 0x80, 0xff, ' ', 'a'} {
				b := []byte(strings.Repeat("a", size))
				b[pos] = c
				for from := 0; from <= pos; from++ {
					want := from
					for want < len(b) && plain[b[want]] {
						want++
					}
					if got := plainEnd(b, from); got != want {
						t.Errorf("plainEnd(%q, %d) = %d, want %d", b, from, got, want)
					}
					want = from
					for want < len(b) && b[want] < 0x80 && escapes[b[want]] == 0 {
						want++
					}
					if got := safeEnd(string(b), from); got != want {
						t.Errorf("safeEnd(%q, %d) = %d, want %d", b, from, got, want)
					}
				}
			}
		}
	}
}

func TestValidStringAgreesWithStringView(t *testing.T) {
	for _, raw := range []string{`""`, `"a"`, `"path/with spaces"`, `"a\"b"`, `"\\"`, `"\u00e9\ud83d\ude00"`, `"tab\there"`, `"\ud800"`, `"ü&<>"`} {
		want, err := StringView([]byte(raw))
		if err != nil {
			t.Fatalf("StringView(%s): %v", raw, err)
		}
		if got := ValidString([]byte(raw)); got != want {
			t.Errorf("ValidString(%s) = %q, want %q", raw, got, want)
		}
	}
}
