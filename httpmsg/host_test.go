package httpmsg

import "testing"

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"shop.example.com", "shop.example.com"},
		{"Shop.Example.COM.:8080", "shop.example.com"},
		{"SHOP.example.com", "shop.example.com"},
		{"shop.example.com.", "shop.example.com"},
		{"shop.example.com:8080", "shop.example.com"},
		{"shop.example.com:", "shop.example.com"}, // RFC 3986 allows an empty port
		{"shop.example.com..:80", "shop.example.com"},
		{"localhost", "localhost"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:80", "[::1]"},
		{"[::1]", "[::1]"},
		{"[::1]:", "[::1]"},
		{"[::1].", "[::1]"},
		{"[FE80::1]:443", "[fe80::1]"},
		{"::1", "::1"},         // bare IPv6: no port to cut
		{"fe80::1", "fe80::1"}, // likewise, though it ends in ":digits"
		{"host:http", "host:http"},
		{"a:1.", "a"},
		{"a.:1.", "a"},
		{"", ""},
		{".", ""},
		{":80", ""},
		{"\xc3\x89X.COM", "\xc3\x89x.com"}, // only ASCII is lowered
		// Taken by the fast path.
		{"a", "a"},
		{"t31.example.com", "t31.example.com"},
		{"[fe80::1]", "[fe80::1]"}, // a colon: not fast, and kept
		{"\xc3\x89x.com", "\xc3\x89x.com"},
		{".a", ".a"},
		{"@z[", "@z["}, // around 'A'..'Z'
	}
	for _, tt := range tests {
		got := NormalizeHost(tt.in)
		if got != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if slow := normalizeHost(tt.in); slow != tt.want {
			t.Errorf("normalizeHost(%q) = %q, want %q", tt.in, slow, tt.want)
		}
		if again := NormalizeHost(got); again != got {
			t.Errorf("NormalizeHost(%q) = %q, not idempotent", got, again)
		}
	}
	for _, h := range []string{"shop.example.com", "shop.example.com.:8080", "[::1]:80"} {
		if n := testing.AllocsPerRun(100, func() { NormalizeHost(h) }); n != 0 {
			t.Errorf("NormalizeHost(%q): %v allocs, want 0", h, n)
		}
	}
}

func TestSplitAbsolute(t *testing.T) {
	tests := []struct {
		target, authority, rest string
		ok                      bool
	}{
		{"http://Host:8080/p?q", "Host:8080", "/p?q", true},
		{"http://h", "h", "/", true},
		{"http://h?q=1", "h", "/?q=1", true},
		{"http://h#frag", "h", "/#frag", true},
		{"http://h/", "h", "/", true},
		{"http://h//x", "h", "//x", true},
		{"https://h/x", "h", "/x", true},
		{"HTTP://h/x", "h", "/x", true},
		{"HtTpS://h", "h", "/", true},
		{"http://[::1]:80/x", "[::1]:80", "/x", true},
		{"http://u@h/p", "h", "/p", true},
		{"http://u:pw@h:80/p", "h:80", "/p", true},
		{"http://a@b@h/", "h", "/", true},
		{"http://h/p@x", "h", "/p@x", true}, // an @ after the authority is path
		{"http://h?a@b", "h", "/?a@b", true},

		{"/p", "", "", false},
		{"", "", "", false},
		{"*", "", "", false},
		{"h:443", "", "", false},
		{"http:/h", "", "", false},
		{"http:h", "", "", false},
		{"http//h", "", "", false},
		{"ftp://h/", "", "", false},
		{"ws://h/", "", "", false},
		{"httpx://h", "", "", false},
		{"http://", "", "", false},
		{"http:///p", "", "", false},
		{"http://?q", "", "", false},
		{"http://u@/p", "", "", false},
		{"http://:80/", "", "", false},
	}
	for _, tt := range tests {
		a, r, ok := SplitAbsolute(tt.target)
		if a != tt.authority || r != tt.rest || ok != tt.ok {
			t.Errorf("SplitAbsolute(%q) = %q, %q, %v; want %q, %q, %v",
				tt.target, a, r, ok, tt.authority, tt.rest, tt.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = SplitAbsolute("http://h/p?q") }); n != 0 {
		t.Errorf("SplitAbsolute: %v allocs, want 0", n)
	}
}

func TestValidHost(t *testing.T) {
	valid := []string{"", "a", "shop.example.com", "Shop.Example.COM.", "shop.example.com:8080", "a:", "a:0", "a:65535",
		"192.0.2.1", "192.0.2.1:80", "[::1]", "[::1]:80", "[2001:db8::1]", "[::ffff:192.0.2.1]",
		"xn--bcher-kva.example", "a_b.example", "a-b~c", "!$&'()*+,;=", "1.2.3.4.5"}
	invalid := []string{"a b", "a\tb", "a/b", "a\\b", "a?b", "a#b", "u@a", "u:p@a", "a\"b", "a<b", "a%", "a%4", "a%zz", "a%41", "%C3%A9.example",
		"[::1", "::1]", "[::1]x", "[::1]:80]", "[a::b::c]", "[fe80::1%25eth0]", "[1.2.3.4]", "[]", "[v1]", "[v.x]", "[vx.y]", "[v1.fe80::a+en1]",
		"a:b", "a:80:80", "a:65536", "a:99999", "a:123456", "a:-1", ":80", ":", "::1", "\xc3\xa9.example", "a\x00", "a\x7f"}
	for _, s := range valid {
		if !ValidHost(s) {
			t.Errorf("ValidHost(%q) = false", s)
		}
	}
	for _, s := range invalid {
		if ValidHost(s) {
			t.Errorf("ValidHost(%q) = true", s)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ValidHost("[2001:db8::1]:8080"); ValidHost("shop.example.com:80") }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func TestHasUserinfo(t *testing.T) {
	for target, want := range map[string]bool{
		"http://u:p@host/": true, "HTTPS://u@host": true, "http://@host/": true, "http://host/@x": false,
		"http://host?@": false, "http://host#@": false, "/p@x": false, "http://host": false, "ftp://u@host/": false,
	} {
		if got := HasUserinfo(target); got != want {
			t.Errorf("HasUserinfo(%q) = %v", target, got)
		}
	}
}

func TestTrailerForbidden(t *testing.T) {
	for _, name := range []string{"Content-Length", "transfer-encoding", "HOST", "X-Forwarded-For", "x-forwarded-anything",
		"Forwarded", "X-Real-IP", "Authorization", "Cache-Control", "Set-Cookie", "Cookie", "Trailer", "TE",
		"Content-Type", "HTTP2-Settings", "Via", "X-Request-Id", "Proxy-Authentication-Info"} {
		if !TrailerForbidden(name) {
			t.Errorf("TrailerForbidden(%q) = false", name)
		}
	}
	for _, name := range []string{"X-Checksum", "Server-Timing", "Digest", "X-Forwarded-", "Content-MD5x",
		"a-name-longer-than-thirty-two-bytes-of-buffer"} {
		if TrailerForbidden(name) {
			t.Errorf("TrailerForbidden(%q) = true", name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { TrailerForbidden("X-Checksum"); TrailerForbidden("Set-Cookie") }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func TestRequestHost(t *testing.T) {
	for _, tt := range []struct {
		target, field, host string
		err                 error
	}{
		{"/p", "a.example:80", "a.example:80", nil},
		{"/p", "", "", nil},
		{"http://b.example/p", "a.example", "b.example", nil},
		{"HTTP://[::1]:8080?q", "a", "[::1]:8080", nil},
		{"http:///p", "a.example", "a.example", nil}, // not absolute-form to SplitAbsolute: the engine rejects the target
		{"http://u@b.example/", "a.example", "", ErrUserinfo},
		{"/p", "a b", "", ErrInvalidHost},
		{"http://b:x/", "a", "", ErrInvalidHost},
	} {
		host, err := RequestHost(tt.target, tt.field)
		if host != tt.host || err != tt.err {
			t.Errorf("RequestHost(%q, %q) = %q, %v; want %q, %v", tt.target, tt.field, host, err, tt.host, tt.err)
		}
	}
}
