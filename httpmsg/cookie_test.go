package httpmsg

import (
	"reflect"
	"testing"
)

func TestCookieValue(t *testing.T) {
	tests := []struct {
		header, name, value string
		ok                  bool
	}{
		{"a=1; b=2", "a", "1", true},
		{"a=1; b=2", "b", "2", true},
		{"a=1;b=2", "b", "2", true},
		{"session_id=lb-1; backend=s2", "backend", "s2", true},
		{" a = 1 ; b = 2 ", "b", "2", true},
		{"a=1;\tb\t=\t2\t", "b", "2", true},
		{`a="x y"`, "a", "x y", true},
		{`a=""`, "a", "", false},
		{`a = "q" ; b=2`, "a", "q", true},
		{`a="`, "a", `"`, true},
		{`a="x`, "a", `"x`, true},
		{`a=x"`, "a", `x"`, true},
		{`a=""x""`, "a", `"x"`, true}, // one pair of quotes is removed
		{"a=", "a", "", false},        // an empty value counts as absent
		{"a=; b=2", "a", "", false},
		{"a; b=2", "a", "", false}, // no '=': an empty value, as net/http reads it
		{"a; b=2", "b", "2", true},
		{"a=1; a=2", "a", "1", true}, // the first wins
		{"a=; a=2", "a", "2", true},  // the first non-empty one
		{"A=1", "a", "", false},      // names are case-sensitive
		{"ab=1", "a", "", false},
		{"a=b=c", "a", "b=c", true},
		{"=x; a=1", "a", "1", true},
		{"=x", "", "", false}, // an empty name never matches
		{"", "a", "", false},
		{";;;", "a", "", false},
		{"a=1;;b=2", "b", "2", true},
		{"a=1; b=2", "c", "", false},
		{"a=caf\xc3\xa9", "a", "caf\xc3\xa9", true},
	}
	for _, tt := range tests {
		v, ok := CookieValue(tt.header, tt.name)
		if v != tt.value || ok != tt.ok {
			t.Errorf("CookieValue(%q, %q) = %q, %v; want %q, %v", tt.header, tt.name, v, ok, tt.value, tt.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { CookieValue("a=1; theme=dark; session_id=lb-42; backend=s2", "backend") }); n != 0 {
		t.Errorf("CookieValue: %v allocs, want 0", n)
	}
}

func TestEachCookie(t *testing.T) {
	type pair struct{ name, value string }
	tests := []struct {
		header string
		want   []pair
	}{
		{"", nil},
		{" ; ;", nil},
		{"a=1", []pair{{"a", "1"}}},
		{" a = 1 ;b=\"2\"; c ;=x; a=3;", []pair{{"a", "1"}, {"b", "2"}, {"c", ""}, {"a", "3"}}},
	}
	for _, tt := range tests {
		var got []pair
		EachCookie(tt.header, func(n, v string) bool {
			got = append(got, pair{n, v})
			return true
		})
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("EachCookie(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}

	calls := 0
	EachCookie("a=1; b=2; c=3", func(n, v string) bool {
		calls++
		return n != "b"
	})
	if calls != 2 {
		t.Errorf("EachCookie went on after fn returned false: %d calls, want 2", calls)
	}
}
