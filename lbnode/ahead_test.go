package lbnode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"l7lb/engine"
	"l7lb/maelstrom"
	"l7lb/tools/routeset"
)

// runNode feeds input to a fresh node, with or without reading requests
// ahead, and returns its output and its log.
func runNode(t *testing.T, in io.Reader, ahead bool) (out, log string) {
	t.Helper()
	var o, l bytes.Buffer
	n := maelstrom.NewNode(in, &o, &l)
	register(n, engine.New(nil), ahead)
	if err := n.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return o.String(), l.String()
}

// readers are the ways a stream comes in: at once (in the node's large
// reads), byte by byte (nothing is ever buffered ahead), and in chunks of
// random sizes (messages cut anywhere).
func readers(stream []byte, seed uint64) map[string]func() io.Reader {
	return map[string]func() io.Reader{
		"whole":  func() io.Reader { return bytes.NewReader(stream) },
		"bytes":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"chunks": func() io.Reader { return &chunkReader{b: stream, r: rand.New(rand.NewPCG(seed, 1))} },
	}
}

// chunkReader returns its bytes in reads of random sizes.
type chunkReader struct {
	b []byte
	r *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 1+c.r.IntN(700))], c.b)
	c.b = c.b[n:]
	return n, nil
}

// TestReadAheadDifferential: a node that reads http_requests ahead and
// prefetches for them answers and logs exactly as one that reads each
// request in its turn, on random streams that interleave requests (hosts,
// paths, sessions, cookies, bad fields) with configuration changes,
// server states, explains, stats, broken and multi-line messages, replies
// and messages without src, over a configuration large enough for the
// engine to prefetch (tools/routeset).
func TestReadAheadDifferential(t *testing.T) {
	rs := routeset.Generate(5000, 10)
	var cfg map[string]any
	if err := json.Unmarshal(rs.AppendJSON(nil, false), &cfg); err != nil {
		t.Fatal(err)
	}
	reqs := rs.Requests(2000)
	for seed := range uint64(2) {
		r := rand.New(rand.NewPCG(seed, 2))
		stream := differentialStream(t, r, cfg, reqs)
		for name, reader := range readers(stream, seed) {
			wantOut, wantLog := runNode(t, reader(), false)
			gotOut, gotLog := runNode(t, reader(), true)
			if gotOut != wantOut {
				t.Fatalf("seed %d, %s: output with read-ahead differs:\n%s", seed, name, firstDiff(gotOut, wantOut))
			}
			if gotLog != wantLog {
				t.Fatalf("seed %d, %s: log with read-ahead differs:\n%s", seed, name, firstDiff(gotLog, wantLog))
			}
			if !strings.Contains(gotOut, `"status":200`) || !strings.Contains(gotOut, `"set_cookie"`) {
				t.Fatalf("seed %d, %s: the stream routes nothing, or pins nothing", seed, name)
			}
		}
	}
}

// differentialStream returns a random stream for TestReadAheadDifferential.
func differentialStream(t *testing.T, r *rand.Rand, cfg map[string]any, reqs []routeset.Request) []byte {
	var b bytes.Buffer
	b.WriteString(`{"src":"c0","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb"`)
	for i := range routeset.NumServers {
		fmt.Fprintf(&b, `,%q`, routeset.Server(i))
	}
	b.WriteString("]}}\n")
	id := 1
	msg := func(body map[string]any) {
		id++
		body["msg_id"] = id
		m, err := json.Marshal(map[string]any{"src": "c1", "dest": "lb", "body": body})
		if err != nil {
			t.Fatal(err)
		}
		b.Write(m)
		b.WriteByte('\n')
	}
	config := func(sticky string) {
		body := map[string]any{"type": "config"}
		for k, v := range cfg {
			body[k] = v
		}
		body["sticky"] = map[string]any{"mode": sticky}
		msg(body)
	}
	config("auto")
	server := func() string { return routeset.Server(r.IntN(routeset.NumServers)) }
	for range 1200 {
		switch k := r.IntN(100); {
		case k < 75:
			q := reqs[r.IntN(len(reqs))]
			body := map[string]any{"type": "http_request", "path": q.Target}
			headers := map[string]any{}
			if q.Host != "" {
				headers["Host"] = q.Host
			}
			switch r.IntN(8) {
			case 0:
				body["session_id"] = fmt.Sprintf("u%d", r.IntN(20))
			case 1:
				body["cookies"] = map[string]any{"session_id": fmt.Sprintf("u%d", r.IntN(20))}
			case 2:
				headers["Cookie"] = fmt.Sprintf("session_id=u%d; backend=%s", r.IntN(20), server())
			case 3:
				body["path"] = "/a/../" + q.Target // not in normal form
			case 4:
				body["method"] = 7 // a 400
			case 5:
				body["path"] = "http://" + q.Host + "x" + q.Target
			}
			if len(headers) > 0 {
				body["headers"] = headers
			}
			msg(body)
		case k < 78:
			msg(map[string]any{"type": "explain", "path": reqs[r.IntN(len(reqs))].Target, "session_id": "u1"})
		case k < 81:
			msg(map[string]any{"type": []string{"server_down", "server_up"}[r.IntN(2)], "server": server()})
		case k < 82:
			if r.IntN(3) == 0 {
				msg(map[string]any{"type": "add_route", "path": reqs[r.IntN(len(reqs))].Target, "servers": []string{server()}})
			}
		case k < 83:
			if r.IntN(3) == 0 {
				msg(map[string]any{"type": "remove_route", "name": routeset.Name(r.IntN(5000))})
			}
		case k < 84:
			msg(map[string]any{"type": "stats"})
		case k < 85:
			if r.IntN(3) == 0 {
				config([]string{"auto", "always", "off"}[r.IntN(3)])
			}
		case k < 86:
			if r.IntN(3) == 0 {
				msg(map[string]any{"type": "set_default_servers", "servers": []string{server()}})
			}
		case k < 90:
			// A broken line, then a request on the next: the line after it
			// is read again as messages of its own.
			id++
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/x"`+"\n", id)
		case k < 92:
			// A request spread over lines, and two on one line.
			id += 2
			fmt.Fprintf(&b, "{\"src\":\"c1\",\"dest\":\"lb\",\n\"body\":{\"type\":\"http_request\",\"msg_id\":%d,\n\"path\":%q}}\n", id-1, reqs[r.IntN(len(reqs))].Target)
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/s1/a"}} `, id)
			id++
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/s2/a"}}`+"\n", id)
		case k < 94:
			// Requests the node never dispatches.
			id++
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"in_reply_to":1,"path":"/x"}}`+"\n", id)
			fmt.Fprintf(&b, `{"dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/x"}}`+"\n", id)
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":7,"msg_id":%d,"path":"/x"}}`+"\n", id)
		case k < 96:
			b.WriteString("\n  \n[1,2]\n")
		default:
			// The type repeated: the last one counts.
			id++
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","type":"stats","msg_id":%d,"path":"/x"}}`+"\n", id)
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"stats","type":"http_request","msg_id":%d,"path":"/x"}}`+"\n", id)
		}
	}
	return b.Bytes()
}

// firstDiff shows where two outputs first differ, by line.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestReadAheadGoldens: every golden input of the node (testdata at the
// root) gets the same output and log with read-ahead as without, however it
// comes in.
func TestReadAheadGoldens(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.in.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, f := range files {
		stream, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for name, reader := range readers(stream, 1) {
			wantOut, wantLog := runNode(t, reader(), false)
			gotOut, gotLog := runNode(t, reader(), true)
			if gotOut != wantOut || gotLog != wantLog {
				t.Errorf("%s, %s: differs with read-ahead:\n%s\n%s", f, name, firstDiff(gotOut, wantOut), firstDiff(gotLog, wantLog))
			}
		}
	}
}
