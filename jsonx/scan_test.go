package jsonx

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		raw  string
		want Kind
	}{
		{`"a"`, String},
		{`-1`, Number},
		{`0`, Number},
		{`9e3`, Number},
		{`{}`, Object},
		{`[]`, Array},
		{`true`, Bool},
		{`false`, Bool},
		{`null`, Null},
		{``, Invalid},
		{` 1`, Invalid},
		{`x`, Invalid},
		{`+1`, Invalid},
	}
	for _, tt := range tests {
		if got := KindOf([]byte(tt.raw)); got != tt.want {
			t.Errorf("KindOf(%q) = %v, want %v", tt.raw, got, tt.want)
		}
	}
	if got := Kind(42).String(); got != "Kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}

// errString describes an error for comparison in tables: "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValueEnd(t *testing.T) {
	tests := []struct {
		in      string
		end     int
		wantErr string
	}{
		{`1`, 1, ""},
		{`  -0.5e+10 `, 10, ""},
		{`12x`, 2, ""},
		{`01`, 1, ""},
		{`"a\"b"tail`, 6, ""},
		{`"\u00e9\ud83d\ude00"`, 20, ""},
		{`{"a":[1,{"b":null}],"c":true} {}`, 29, ""},
		{"\t\r\n[ ]", 6, ""},
		{`{}`, 2, ""},
		{`false,`, 5, ""},

		{``, 0, "unexpected end of input"},
		{`   `, 0, "unexpected end of input"},
		{`{"a":1`, 0, "unexpected end of input"},
		{`{"a":1,`, 0, "unexpected end of input"},
		{`{"a"`, 0, "unexpected end of input"},
		{`["abc`, 0, "unexpected end of input"},
		{`"\`, 0, "unexpected end of input"},
		{`"\u12`, 0, "unexpected end of input"},
		{`tru`, 0, "unexpected end of input"},
		{`-`, 0, "unexpected end of input"},
		{`1.`, 0, "unexpected end of input"},
		{`1e`, 0, "unexpected end of input"},
		{`1e-`, 0, "unexpected end of input"},

		{`x`, 0, "invalid character 'x' looking for beginning of value at offset 0"},
		{`{"a":1 "b":2}`, 0, `invalid character '"' after object key:value pair at offset 7`},
		{`{"a" 1}`, 0, "invalid character '1' after object key at offset 5"},
		{`{1:2}`, 0, "invalid character '1' looking for beginning of object key string at offset 1"},
		{`{"a":1,}`, 0, "invalid character '}' looking for beginning of object key string at offset 7"},
		{`[1,]`, 0, "invalid character ']' looking for beginning of value at offset 3"},
		{`[1 2]`, 0, "invalid character '2' after array element at offset 3"},
		{"\"a\nb\"", 0, `invalid character '\n' in string literal at offset 2`},
		{`"\x"`, 0, "invalid character 'x' in string escape code at offset 2"},
		{`"\u12g4"`, 0, `invalid character 'g' in \u hexadecimal character escape at offset 5`},
		{`trUe`, 0, "invalid character 'U' in literal true at offset 2"},
		{`-a`, 0, "invalid character 'a' in numeric literal at offset 1"},
		{`1.e5`, 0, "invalid character 'e' after decimal point in numeric literal at offset 2"},
		{`1e+x`, 0, "invalid character 'x' in exponent of numeric literal at offset 3"},
		{"\xff", 0, `invalid character '\xff' looking for beginning of value at offset 0`},
		{`'a'`, 0, `invalid character '\'' looking for beginning of value at offset 0`},
	}
	for _, tt := range tests {
		end, err := ValueEnd([]byte(tt.in))
		if got := errString(err); got != tt.wantErr {
			t.Errorf("ValueEnd(%q) error = %q, want %q", tt.in, got, tt.wantErr)
			continue
		}
		if err == nil && end != tt.end {
			t.Errorf("ValueEnd(%q) = %d, want %d", tt.in, end, tt.end)
		}
		if tt.wantErr == ErrIncomplete.Error() && err != ErrIncomplete {
			t.Errorf("ValueEnd(%q) error is not ErrIncomplete", tt.in)
		}
		var se *SyntaxError
		if strings.HasPrefix(tt.wantErr, "invalid") && !errors.As(err, &se) {
			t.Errorf("ValueEnd(%q) error is %T, want *SyntaxError", tt.in, err)
		}
	}
}

func TestValueEndDepth(t *testing.T) {
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if !Valid([]byte(ok)) {
		t.Errorf("%d nested arrays rejected", maxDepth)
	}
	deep := strings.Repeat(`{"a":[`, maxDepth/2) + "{"
	_, err := ValueEnd([]byte(deep))
	want := fmt.Sprintf("exceeded max depth at offset %d", len(deep)-1)
	if errString(err) != want {
		t.Errorf("ValueEnd(too deep) error = %v, want %q", err, want)
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{` {"a": [1, 2.5, -3e-2, "x", true, false, null]} `, true},
		{`"\u00e9"`, true},
		{"\"\xff\xfe\"", true}, // encoding/json does not check UTF-8 either
		{`1 2`, false},
		{`{} x`, false},
		{``, false},
		{`01`, false},
		{`{"a":1`, false},
	}
	for _, tt := range tests {
		if got := Valid([]byte(tt.in)); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestObjectEach(t *testing.T) {
	tests := []struct {
		in      string
		want    string // key=value pairs seen, separated by spaces
		wantErr string
	}{
		{`{}`, "", ""},
		{` { "a" : 1 , "b":"x" } `, `a=1 b="x"`, ""},
		{`{"a":{"b":[1, 2]},"c":null}`, `a={"b":[1, 2]} c=null`, ""},
		{`{"a":1,"a":2}`, `a=1 a=2`, ""},
		{`{"k\u00e9\n\"":true}`, "k\u00e9\n\"=true", ""},
		{`{"a":1} {}`, `a=1`, "invalid character '{' after top-level value at offset 8"},
		{`{"a":1,"b":}`, `a=1`, "invalid character '}' looking for beginning of value at offset 11"},
		{`{"a":1,"b":2`, `a=1 b=2`, "unexpected end of input"},
		{`[1]`, ``, "invalid character '[' looking for beginning of object at offset 0"},
		{`  `, ``, "unexpected end of input"},
	}
	for _, tt := range tests {
		var seen []string
		err := ObjectEach([]byte(tt.in), func(k, v []byte) error {
			seen = append(seen, string(k)+"="+string(v))
			return nil
		})
		if got := strings.Join(seen, " "); got != tt.want {
			t.Errorf("ObjectEach(%q) saw %q, want %q", tt.in, got, tt.want)
		}
		if got := errString(err); got != tt.wantErr {
			t.Errorf("ObjectEach(%q) error = %q, want %q", tt.in, got, tt.wantErr)
		}
	}
}

func TestObjectPrefix(t *testing.T) {
	tests := []struct {
		in      string
		end     int
		want    string
		wantErr string
	}{
		{` {"a":1} {"b":2}`, 8, `a=1`, ""},
		{`{"a":1}x`, 7, `a=1`, ""},
		{`{"a":1,`, 0, `a=1`, "unexpected end of input"},
		{`{"a":1 x`, 0, `a=1`, "invalid character 'x' after object key:value pair at offset 7"},
		{`[1]`, 0, ``, "invalid character '[' looking for beginning of object at offset 0"},
	}
	for _, tt := range tests {
		var seen []string
		end, err := ObjectPrefix([]byte(tt.in), func(k, v []byte) error {
			seen = append(seen, string(k)+"="+string(v))
			return nil
		})
		if got := strings.Join(seen, " "); got != tt.want {
			t.Errorf("ObjectPrefix(%q) saw %q, want %q", tt.in, got, tt.want)
		}
		if got := errString(err); got != tt.wantErr {
			t.Errorf("ObjectPrefix(%q) error = %q, want %q", tt.in, got, tt.wantErr)
		} else if err == nil && end != tt.end {
			t.Errorf("ObjectPrefix(%q) = %d, want %d", tt.in, end, tt.end)
		}
	}
}

func TestObjectEachStops(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := ObjectEach([]byte(`{"a":1,"b":2,"c":3}`), func(k, v []byte) error {
		calls++
		if string(k) == "b" {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Errorf("ObjectEach = %v after %d calls, want stop after 2", err, calls)
	}
}

func TestArrayEach(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{`[]`, "", ""},
		{` [ 1 , "a" ,{"b":[]}, [ ] ] `, `0=1 1="a" 2={"b":[]} 3=[ ]`, ""},
		{`[1,2`, `0=1 1=2`, "unexpected end of input"},
		{`[1,,2]`, `0=1`, "invalid character ',' looking for beginning of value at offset 3"},
		{`{}`, ``, "invalid character '{' looking for beginning of array at offset 0"},
		{`[1]]`, `0=1`, "invalid character ']' after top-level value at offset 3"},
	}
	for _, tt := range tests {
		var seen []string
		err := ArrayEach([]byte(tt.in), func(i int, v []byte) error {
			seen = append(seen, fmt.Sprintf("%d=%s", i, v))
			return nil
		})
		if got := strings.Join(seen, " "); got != tt.want {
			t.Errorf("ArrayEach(%q) saw %q, want %q", tt.in, got, tt.want)
		}
		if got := errString(err); got != tt.wantErr {
			t.Errorf("ArrayEach(%q) error = %q, want %q", tt.in, got, tt.wantErr)
		}
	}
}
