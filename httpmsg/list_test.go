package httpmsg

import (
	"errors"
	"strings"
	"testing"
)

func TestParseChunkLine(t *testing.T) {
	tests := []struct {
		line string
		size int64
		ok   bool
	}{
		{"0", 0, true},
		{"a", 10, true},
		{"1F", 31, true},
		{"0000000000000010", 16, true},
		{"fffffffffffffff", 1<<60 - 1, true},
		{"1000000000000000", 0, false}, // 2^60
		{"5;a", 5, true},
		{"5 ;a=b", 5, true},
		{"5\t; a = b ;c=\"q\\\"x\"", 5, true},
		{"", 0, false},
		{"x", 0, false},
		{"-1", 0, false},
		{"5 ", 0, false},
		{"5;", 0, false},
		{"5;=b", 0, false},
		{"5;a=", 0, false},
		{"5;a=\"x", 0, false},
		{"5;a=b c", 0, false},
		{"5;a=\"\x01\"", 0, false},
		{"5;a\rb", 0, false},
		{"0x5", 0, false},
	}
	for _, tt := range tests {
		size, ok := ParseChunkLine([]byte(tt.line))
		if size != tt.size && tt.ok || ok != tt.ok {
			t.Errorf("ParseChunkLine(%q) = %d, %v; want %d, %v", tt.line, size, ok, tt.size, tt.ok)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	tests := []struct {
		in  string
		n   int64
		err error
	}{
		{"0", 0, nil},
		{"5", 5, nil},
		{"007", 7, nil},
		{"5, 5", 5, nil},
		{"5,5 ,\t5", 5, nil},
		{"9223372036854775807", 1<<63 - 1, nil},
		{"9223372036854775808", 0, ErrBadLength},
		{"99999999999999999999", 0, ErrBadLength},
		{"", 0, ErrBadLength},
		{"+5", 0, ErrBadLength},
		{"-5", 0, ErrBadLength},
		{"0x5", 0, ErrBadLength},
		{"5 5", 0, ErrBadLength},
		{"5,", 0, ErrBadLength},
		{",5", 0, ErrBadLength},
		{"5, 6", 0, ErrConflictLengths},
	}
	for _, tt := range tests {
		in := strings.ReplaceAll(tt.in, `\t`, "\t")
		n, err := ParseContentLength(in)
		if n != tt.n || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("ParseContentLength(%q) = %d, %v; want %d, %v", in, n, err, tt.n, tt.err)
		}
	}
}

func TestLists(t *testing.T) {
	var got []string
	for list := " a ,, B\t,c"; list != ""; {
		var e string
		e, list = NextElement(list)
		got = append(got, e)
	}
	if strings.Join(got, "|") != "a||B|c" {
		t.Errorf("elements %q", got)
	}
	for _, tt := range []struct {
		list, token string
		want        bool
	}{
		{"close", "close", true}, {"Keep-Alive, CLOSE", "close", true}, {"closed", "close", false},
		{"", "close", false}, {"trailers, deflate", "TRAILERS", true}, {"a,,b", "", true},
	} {
		if got := HasToken(tt.list, tt.token); got != tt.want {
			t.Errorf("HasToken(%q, %q) = %v", tt.list, tt.token, got)
		}
	}
}
