package httpmsg

import "testing"

// TestHeaders pins the one header view's rules, including the cases on
// which the faces' three former views disagreed: case folding (ASCII only,
// where the node and explain folded Unicode), an empty cookie before a
// set one (the proxy and explain stopped at the empty one, the node at its
// field), and whitespace around values (the node compared it).
func TestHeaders(t *testing.T) {
	parsed := func(raw string) Headers {
		var h Head
		if err := ParseHead(raw, &h); err != nil {
			t.Fatal(err)
		}
		return Headers{Fields: h.Fields}
	}
	fields := func(kv ...string) Headers {
		var h Headers
		for i := 0; i < len(kv); i += 2 {
			h.Fields = append(h.Fields, Field{Name: kv[i], Value: kv[i+1]})
		}
		return h
	}
	head := parsed("GET / HTTP/1.1\r\nHost: shop\r\nAccept: a\r\nX-Mode:  beta \r\naccept: b\r\nEmpty:\r\n" +
		"Cookie: session_id=; theme=dark\r\ncookie: session_id=abc; backend=s2\r\n\r\n")

	type lookup struct {
		name, value string
		ok          bool
	}
	tests := []struct {
		name      string
		h         Headers
		header    []lookup // Header(name) = value, ok
		has       []lookup // HasHeader(name, value) = ok
		cookie    []lookup // Cookie(name) = value, ok
		count     map[string]int
		hasCookie bool
	}{
		{
			name: "parsed head",
			h:    head,
			header: []lookup{
				{"Host", "shop", true}, {"host", "shop", true}, {"HOST", "shop", true},
				{"Accept", "a", true}, {"X-Mode", "beta", true}, {"Empty", "", true},
				{"Missing", "", false}, {"", "", false}, {"Hos", "", false}, {"Hostt", "", false},
				{"\u212aey", "", false},
			},
			has: []lookup{
				{"accept", "a", true}, {"accept", "b", true}, {"Accept", "A", false},
				{"X-Mode", "beta", true}, {"x-mode", " beta ", false}, {"Empty", "", true},
				{"Missing", "", false}, {"Host", "sho", false},
			},
			cookie: []lookup{
				{"session_id", "abc", true}, // the empty one counts as absent
				{"theme", "dark", true}, {"backend", "s2", true},
				{"Session_id", "", false}, {"x", "", false},
			},
			count:     map[string]int{"accept": 2, "COOKIE": 2, "host": 1, "none": 0},
			hasCookie: true,
		},
		{
			name:   "values built by hand are compared trimmed",
			h:      fields("X-Mode", " \tbeta\t ", "Host", " a.example "),
			header: []lookup{{"x-mode", "beta", true}, {"host", "a.example", true}},
			has:    []lookup{{"x-mode", "beta", true}, {"x-mode", " \tbeta\t ", false}},
		},
		{
			name:      "names fold ASCII only",
			h:         fields("Coo\u212aie", "session_id=abc", "\u212a", "1"),
			header:    []lookup{{"cookie", "", false}, {"k", "", false}, {"K", "", false}},
			cookie:    []lookup{{"session_id", "", false}},
			count:     map[string]int{"cookie": 0},
			hasCookie: false,
		},
		{
			name:      "cookie fields of any case, in order",
			h:         fields("COOKIE", "a=", "X", "a=9", "cOoKiE", "a=2; a=3"),
			cookie:    []lookup{{"a", "2", true}},
			hasCookie: true,
		},
		{
			name:      "cookies given apart come first, empty ones absent",
			h:         Headers{Fields: fields("Cookie", "sid=header").Fields, Cookies: []Field{{"sid", ""}, {"hint", "s1"}}},
			cookie:    []lookup{{"sid", "header", true}, {"hint", "s1", true}},
			hasCookie: true,
		},
		{
			name:      "cookies given apart win",
			h:         Headers{Fields: fields("Cookie", "sid=header").Fields, Cookies: []Field{{"sid", "apart"}}},
			cookie:    []lookup{{"sid", "apart", true}},
			hasCookie: true,
		},
		{
			name:      "an empty set of cookies is still cookies",
			h:         Headers{CookieSet: true},
			cookie:    []lookup{{"sid", "", false}},
			hasCookie: true,
		},
		{
			name:      "nothing",
			h:         Headers{},
			header:    []lookup{{"host", "", false}},
			cookie:    []lookup{{"sid", "", false}},
			hasCookie: false,
		},
	}
	for _, tt := range tests {
		h := &tt.h
		for _, l := range tt.header {
			if v, ok := h.Header(l.name); v != l.value || ok != l.ok {
				t.Errorf("%s: Header(%q) = %q, %v; want %q, %v", tt.name, l.name, v, ok, l.value, l.ok)
			}
		}
		for _, l := range tt.has {
			if ok := h.HasHeader(l.name, l.value); ok != l.ok {
				t.Errorf("%s: HasHeader(%q, %q) = %v", tt.name, l.name, l.value, ok)
			}
		}
		for _, l := range tt.cookie {
			if v, ok := h.Cookie(l.name); v != l.value || ok != l.ok {
				t.Errorf("%s: Cookie(%q) = %q, %v; want %q, %v", tt.name, l.name, v, ok, l.value, l.ok)
			}
		}
		for name, want := range tt.count {
			if n := h.Count(name); n != want {
				t.Errorf("%s: Count(%q) = %d, want %d", tt.name, name, n, want)
			}
		}
		if got := h.HasCookies(); got != tt.hasCookie {
			t.Errorf("%s: HasCookies() = %v", tt.name, got)
		}
	}

	if n := testing.AllocsPerRun(100, func() {
		head.Header("x-mode")
		head.HasHeader("accept", "b")
		head.Cookie("backend")
		head.HasCookies()
	}); n != 0 {
		t.Errorf("%v allocs, want 0", n)
	}
}
