package lbnode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"l7lb/engine"
	"l7lb/maelstrom"
)

const initLine = `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb","s1","s2","s3"]}}` + "\n"

// run feeds input to a fresh node and returns its output lines.
func run(t testing.TB, input string) []string {
	t.Helper()
	var out bytes.Buffer
	n := maelstrom.NewNode(strings.NewReader(input), &out, io.Discard)
	Register(n, engine.New(nil))
	if err := n.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

// body returns the body of a reply line, decoded.
func replyBody(t testing.TB, line string) map[string]any {
	t.Helper()
	var m struct {
		Body map[string]any `json:"body"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	return m.Body
}

func TestHTTPRequestFields(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]any // fields of the reply body to check; nil value = absent
	}{
		{"defaults", `"path":"/api/x"`, map[string]any{"status": 200.0, "routed_to": "s1", "path": "/api/x", "error": nil}},
		{"missing path", `"method":"GET"`, map[string]any{"status": 400.0, "error": "missing path", "path": nil}},
		{"path type", `"path":7`, map[string]any{"status": 400.0, "error": "path: expected a string", "path": nil}},
		{"path null", `"path":null`, map[string]any{"status": 400.0, "error": "path: expected a string"}},
		{"method type", `"path":"/x","method":1`, map[string]any{"status": 400.0, "error": "method: expected a string", "path": "/x"}},
		{"path echoed after a bad field", `"headers":[],"path":"/x"`, map[string]any{"status": 400.0, "error": "headers: expected an object", "path": "/x"}},
		{"header list", `"path":"/x","headers":{"X-A":["1",2]}}`, map[string]any{"status": 400.0, "error": "headers.X-A: expected a string or a list of strings"}},
		{"two hosts", `"path":"/x","headers":{"Host":"a","host":"b"}`, map[string]any{"status": 400.0, "error": "headers: more than one Host"}},
		{"host list", `"path":"/x","headers":{"Host":["a","b"]}`, map[string]any{"status": 400.0, "error": "headers: more than one Host"}},
		{"cookie type", `"path":"/x","cookies":{"sid":1}`, map[string]any{"status": 400.0, "error": "cookies.sid: expected a string"}},
		{"cookies issue a session", `"path":"/x","cookies":{}`, map[string]any{"status": 200.0, "set_cookie": "session_id=lb-1; backend=s1"}},
		{"session_id wins", `"path":"/x","session_id":"a","cookies":{"session_id":"b"}`, map[string]any{"status": 200.0, "set_cookie": nil}},
		{"raw", `"raw":"GET /web/x HTTP/1.1\r\nHost: h\r\n\r\n","path":"/api/y"`, map[string]any{"status": 200.0, "routed_to": "s3", "path": "/web/x"}},
		{"raw error", `"raw":"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n","path":"/api/y"`, map[string]any{"status": 400.0, "error": "raw: invalid header name at line 2", "path": nil}},
		{"unknown fields ignored", `"path":"/api/x","extra":{"a":[1,2]}`, map[string]any{"status": 200.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := run(t, initLine+`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":2,`+tt.body+"}}\n")
			if len(lines) != 2 {
				t.Fatalf("%d replies: %q", len(lines), lines)
			}
			got := replyBody(t, lines[1])
			if got["type"] != "http_response" {
				t.Fatalf("reply %s", lines[1])
			}
			for k, want := range tt.want {
				if v, ok := got[k]; want == nil && ok || want != nil && v != want {
					t.Errorf("%s = %v, want %v (reply %s)", k, v, want, lines[1])
				}
			}
		})
	}
}

func TestStatsCountsEarlyRejections(t *testing.T) {
	lines := run(t, initLine+
		`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":2,"path":7}}`+"\n"+
		`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":3,"path":"/api/a"}}`+"\n"+
		`{"src":"c1","dest":"lb","body":{"type":"explain","msg_id":4,"path":"/api/a"}}`+"\n"+
		`{"src":"c1","dest":"lb","body":{"type":"stats","msg_id":5}}`+"\n")
	want := `{"src":"lb","dest":"c1","body":{"type":"stats_ok","in_reply_to":5,"msg_id":4,"routed":{"s1":1,"s2":0,"s3":0},"sessions":0,"statuses":{"200":1,"400":1}}}`
	if got := lines[len(lines)-1]; got != want {
		t.Errorf("stats:\n got %s\nwant %s", got, want)
	}
}

// FuzzNode feeds arbitrary bytes to the node (it must never panic nor stop
// early), then a run of well-formed requests built from the fuzz values:
// each must get exactly one reply, in order.
func FuzzNode(f *testing.F) {
	f.Add([]byte(`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":2,"path":"/x"}}`), "/api/a?x=1", "h.example.com", "sid")
	f.Add([]byte("{\"src\":\"c\"\n\x00\xff}}}"), "/../%2e", "", "")
	f.Add([]byte(`{"src":"c","dest":"lb","body":{"type":"config","msg_id":1,"routes":[{"path":"~(","servers":["s1"]}]}}`), "//", "*.x", "\"")
	f.Fuzz(func(t *testing.T, junk []byte, path, host, sid string) {
		const n = 5
		var in bytes.Buffer
		in.WriteString(initLine)
		in.Write(junk)
		in.WriteString("\n")
		for i := range n {
			body, _ := json.Marshal(map[string]any{"type": "http_request", "msg_id": 1000 + i, "path": path, "host": host, "session_id": sid})
			fmt.Fprintf(&in, `{"src":"fz","dest":"lb","body":%s}`+"\n", body)
		}
		var out bytes.Buffer
		node := maelstrom.NewNode(&in, &out, io.Discard)
		Register(node, engine.New(nil))
		if err := node.Run(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		var replies []int
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m struct {
				Dest string `json:"dest"`
				Body struct {
					// Any token: in_reply_to repeats the msg_id as written,
					// and the junk line's may be a string.
					InReplyTo json.RawMessage `json:"in_reply_to"`
				} `json:"body"`
			}
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("reply is not JSON: %q", sc.Text())
			}
			if id, err := strconv.Atoi(string(m.Body.InReplyTo)); err == nil && m.Dest == "fz" && id >= 1000 {
				replies = append(replies, id)
			}
		}
		// A broken line never swallows the good lines after it: the last
		// n replies to fz answer the n requests, in order (the junk, which
		// comes first, may pass for fz too).
		if len(replies) < n {
			t.Fatalf("replies to the requests: %v, want %d", replies, n)
		}
		for i, id := range replies[len(replies)-n:] {
			if id != 1000+i {
				t.Fatalf("replies %v: the last %d are not the requests' in order", replies, n)
			}
		}
	})
}

// TestPathEcho checks the bytes of the echoed path: a token without escapes
// is echoed as received when it is valid UTF-8, anything else is encoded
// again, with only the escapes JSON requires.
func TestPathEcho(t *testing.T) {
	tests := []struct{ token, want string }{
		{`"/api/x?a=1&b=<2>"`, `"/api/x?a=1&b=<2>"`},
		{`"/é/\u00e9"`, `"/é/é"`},
		{`"/é"`, `"/é"`},
		{`"/a\/b\"c"`, `"/a/b\"c"`},
		{"\"/\xff\"", "\"/\uFFFD\""},
		{`"/\u2028"`, "\"/\u2028\""},
	}
	for _, tt := range tests {
		lines := run(t, initLine+`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":2,"path":`+tt.token+"}}\n")
		if want := `"path":` + tt.want + `,`; len(lines) != 2 || !strings.Contains(lines[1], want) {
			t.Errorf("path %s: replies %q, want one with %s", tt.token, lines, want)
		}
	}
}

func TestASCII(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"", true}, {"/", true}, {"/abcdefg", true}, {"/abcdefgh", true}, {"/abcdefghijklmnopq", true},
		{"\x80", false}, {"/abcdefg\x80", false}, {"\xff/abcdefgh", false}, {"/abcdefghijklmn\xc3\xa9", false}, {"/abcdefgh\xc3\xa9ijklmno", false},
	} {
		if got := ascii([]byte(tt.s)); got != tt.want {
			t.Errorf("ascii(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

// TestHeaderView checks the node's reading of headers against the one
// header view all faces share (httpmsg.Headers): names fold ASCII case
// only (a name spelt with the Kelvin sign is not Cookie), values are
// compared without surrounding whitespace, and an empty cookie value
// counts as absent.
func TestHeaderView(t *testing.T) {
	const route = `{"src":"c1","dest":"lb","body":{"type":"config","msg_id":2,"routes":[{"name":"prod","headers":{"X-Env":"prod"},"servers":["s2"]}]}}` + "\n"
	tests := []struct {
		name, body string
		want       map[string]any
	}{
		{"empty cookie then the session", `"headers":{"Cookie":"session_id=; session_id=abc"}`, map[string]any{"sticky": "new-pin"}},
		{"empty cookie in the cookies object", `"cookies":{"session_id":""},"headers":{"Cookie":"session_id=abc"}`, map[string]any{"sticky": "new-pin"}},
		{"Kelvin sign is not k", `"headers":{"Coo\u212aie":"session_id=abc"}`, map[string]any{"sticky": "none"}},
		{"ASCII case folds", `"headers":{"cOOKIE":"session_id=abc"}`, map[string]any{"sticky": "new-pin"}},
		{"header value with whitespace", `"headers":{"x-env":" prod\t"}`, map[string]any{"route": "prod"}},
		{"host with whitespace", `"headers":{"Host":" a.example "}`, map[string]any{"status": 200.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := run(t, initLine+route+`{"src":"c1","dest":"lb","body":{"type":"explain","msg_id":3,"path":"/x",`+tt.body+"}}\n")
			got := replyBody(t, lines[len(lines)-1])
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %v, want %v (reply %s)", k, got[k], want, lines[len(lines)-1])
				}
			}
		})
	}
}
