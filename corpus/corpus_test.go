package corpus

import (
	"bytes"
	"reflect"
	"testing"
)

func TestLLHTTP(t *testing.T) {
	md := "Title\n=====\n\n### A case\n\n<!-- meta={\"type\": \"request\"} -->\n```http\n" +
		"GET / HTTP/1.1\nA: x\\ty\\r\\n\\x41\\101\nB: join\\\ned\n\n\n```\n\n```log\nignored\n```\n\n" +
		"## A response\n\n<!-- meta={\"type\": \"response\"} -->\n```http\nHTTP/1.1 200 OK\n\n\n```\n\n" +
		"## Lenient\n\n<!-- meta={\"type\": \"request-lenient-headers\"} -->\n```http\n\\r\\nGET /é HTTP/1.1\n\n\n```\n"
	cases, err := LLHTTP("x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []Case{
		{ID: "x.md:7 A case", Raw: []byte("GET / HTTP/1.1\r\nA: x\ty\r\nAA\r\nB: joined\r\n\r\n")},
		{ID: "x.md:32 Lenient [request-lenient-headers]", Raw: []byte("\r\nGET /\xc3\xa9 HTTP/1.1\r\n\r\n")},
	}
	if !reflect.DeepEqual(cases, want) {
		t.Errorf("got %q\nwant %q", cases, want)
	}
}

func TestSmugglerMutations(t *testing.T) {
	src := "\ndef render_template(gadget):\n"
	for _, l := range smugglerTemplate[1:] {
		src += "\t" + l + "\n"
	}
	src += "\nmutations[\"plain\"] = render_template(\"Transfer-Encoding: chunked\")\n" +
		"mutations[\"esc\"] = render_template(\"Transfer-Encoding:\\u000Bchunked\\x96\")\n" +
		"for i in [0x1,0xff]:\n\tmutations[\"mid-%02x\"%i] = render_template(\"TE:%cX\"%(i))\n" +
		"for i in range(0x20,0x22):\n\tmutations[\"%02x-%02x\"%(i,i)] = render_template(\"%cA%c\"%(i,i))\n"
	ms, err := SmugglerMutations("c.py", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mutation{
		{"c.py:plain", "Transfer-Encoding: chunked"},
		{"c.py:esc", "Transfer-Encoding:\vchunked\u0096"},
		{"c.py:mid-01", "TE:\x01X"},
		{"c.py:mid-ff", "TE:\u00ffX"},
		{"c.py:20-20", " A "},
		{"c.py:21-21", "!A!"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Errorf("got %q\nwant %q", ms, want)
	}
	if _, err := SmugglerMutations("c.py", []byte("mutations[\"x\"] = other(\"y\")\n")); err == nil {
		t.Error("an unknown statement was accepted")
	}
	raw, err := SmugglerRequest("TE:\u00ffX", VariantCLTE, "h")
	if err != nil || !bytes.Contains(raw, []byte("TE:\xc3\xbfX\r\nHost: h\r\n")) || !bytes.HasSuffix(raw, []byte("Content-Length: 4\r\n\r\n1\r\nZ\r\n0\r\n\r\n")) {
		t.Errorf("%q, %v", raw, err)
	}
}

func TestReadWrite(t *testing.T) {
	f := &File{Header: []string{"a corpus"}, Cases: []Case{
		{ID: "one", Raw: []byte("GET / HTTP/1.1\r\n\x00\xff\t\r\n"), Expect: "400", HAProxy: "fwd GET / 0", Nginx: ""},
	}}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	g, err := Read(&b)
	if err != nil || !reflect.DeepEqual(f, g) {
		t.Errorf("read back %+v, %v", g, err)
	}
}

// TestExpect pins the model on hand-made cases, one rule each.
func TestExpect(t *testing.T) {
	const host = "Host: a\r\n"
	for _, tt := range []struct{ raw, want string }{
		{"GET / HTTP/1.1\r\n" + host + "\r\n", "fwd GET / 0"},
		{"\r\n\nGET /a HTTP/1.1\r\n" + host + "\r\nPOST /b HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nhi\r\n", "fwd GET /a 0 | fwd POST /b 2"},
		{"GET / HTTP/1.1\r\n" + host, "none"},
		{"GET / HTTP/1.1\r\n\r\n", "400"},
		{"GET / HTTP/2.0\r\n" + host + "\r\n", "505"},
		{"GET / ICE/1.0\r\n" + host + "\r\n", "400"},
		{"GET / HTTP/1.1\r\n" + host + "X : y\r\n\r\n", "400"},
		{"GET / HTTP/1.1\r\n" + host + "X: a\x01b\r\n\r\n", "400"},
		{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", "400"},
		{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n0\r\nT: 1\r\n\r\n", "fwd POST / 3"},
		{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", "400"},
		{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", "400"},
		{"GET /a/./b/../c//d%7e%2f?q=%zz#frag HTTP/1.1\r\n" + host + "\r\n", "fwd GET /a/c/d~%2F?q=%zz 0"},
		{"GET http://b.example/x HTTP/1.1\r\n" + host + "\r\n", "fwd GET /x 0"},
		{"GET http://u@b.example/x HTTP/1.1\r\n" + host + "\r\n", "400"},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400"},
		{"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", "fwd GET / 0"},
		{"GET / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n", "fwd GET / 0"},
	} {
		if got := Expect([]byte(tt.raw)); got != tt.want {
			t.Errorf("Expect(%q) = %s, want %s", tt.raw, got, tt.want)
		}
	}
}
