package lbnode

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"l7lb/engine"
	"l7lb/maelstrom"
)

// lineReader gives its input one line per Read, so that the node never
// has a message buffered behind the line it handles: http_requests are
// matched and decided one at a time.
type lineReader struct{ rest []byte }

func (l *lineReader) Read(p []byte) (int, error) {
	if len(l.rest) == 0 {
		return 0, io.EOF
	}
	n := bytes.IndexByte(l.rest, '\n') + 1
	if n == 0 {
		n = len(l.rest)
	}
	n = copy(p, l.rest[:n])
	l.rest = l.rest[n:]
	return n, nil
}

// runFrom runs a fresh node over in and returns its output.
func runFrom(t *testing.T, in io.Reader) string {
	t.Helper()
	var out bytes.Buffer
	n := maelstrom.NewNode(in, &out, io.Discard)
	Register(n, engine.New(nil))
	if err := n.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out.String()
}

// mixedInput returns init, a configuration, and a random run of
// http_requests (in runs, as clients send them) mixed with configuration
// changes, server state changes, explains, stats and broken messages.
func mixedInput(seed uint64, count int) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	id := 1
	msg := func(body string) {
		fmt.Fprintf(&b, `{"src":"c%d","dest":"lb","body":{%s,"msg_id":%d}}`+"\n", r.IntN(2)+1, body, id)
		id++
	}
	msg(`"type":"init","node_id":"lb","node_ids":["lb","s1","s2","s3"]`)
	msg(`"type":"config","routes":[` +
		`{"name":"api","path":"/api/*","servers":["s1","s2"]},` +
		`{"name":"h","path":"/h/*","servers":["s1","s2","s3"],"balance":"hash","hash_on":"cookie:user"},` +
		`{"name":"w","path":"/w/*","servers":["s2","s3"],"balance":"weighted_round_robin","weights":{"s2":3,"s3":1},"rewrite":{"strip_prefix":"/w"}}` +
		`],"default_servers":["s1","s2","s3"],"sticky":{"mode":"auto"}}`)
	paths := []string{"/api/a", "/h/x", "/w/y?q=1", "/other", "/p0/z", "/p1/z", "/a/../api/b", "/bad%zz", "http://example.com/api/c"}
	servers := []string{"s1", "s2", "s3"}
	request := func(typ string) {
		p := paths[r.IntN(len(paths))]
		extra := ""
		switch r.IntN(5) {
		case 0:
			extra = fmt.Sprintf(`,"cookies":{"user":"u%d"}`, r.IntN(4))
		case 1:
			extra = fmt.Sprintf(`,"session_id":"sess%d"`, r.IntN(4))
		case 2:
			extra = `,"cookies":{}`
		}
		msg(fmt.Sprintf(`"type":%q,"path":%q%s`, typ, p, extra))
	}
	for range count {
		switch k := r.IntN(40); {
		case k < 30:
			for range 1 + r.IntN(12) {
				request("http_request")
			}
		case k == 30:
			msg(fmt.Sprintf(`"type":"add_route","name":"p%d","path":"/p%d/*","servers":[%q]`, r.IntN(2), r.IntN(2), servers[r.IntN(3)]))
		case k == 31:
			msg(fmt.Sprintf(`"type":"remove_route","name":"p%d"`, r.IntN(3)))
		case k == 32:
			msg(fmt.Sprintf(`"type":"server_down","server":%q`, servers[r.IntN(3)]))
		case k == 33:
			msg(fmt.Sprintf(`"type":"server_up","server":%q`, servers[r.IntN(3)]))
		case k == 34:
			request("explain")
		case k == 35:
			msg(`"type":"stats"`)
		case k == 36:
			msg(`"type":"http_request","path":7`) // a 400 of the node's own
		case k == 37:
			b.WriteString(`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":` + "\n")
		case k == 38:
			msg(`"type":"set_default_servers","servers":["s3"]`)
		default:
			msg(`"type":"get_config"`)
		}
	}
	return b.String()
}

// TestAheadSameAsOneByOne: whatever runs of http_requests the node takes
// ahead, between configuration and server changes, its replies are those
// of handling every message alone.
func TestAheadSameAsOneByOne(t *testing.T) {
	inputs := map[string]string{}
	for seed := range uint64(4) {
		inputs[fmt.Sprint("mixed ", seed)] = mixedInput(seed, 300)
	}
	golden, _ := filepath.Glob("../testdata/*.in.jsonl")
	for _, f := range golden {
		if _, err := os.Stat(strings.TrimSuffix(f, ".in.jsonl") + ".args"); err == nil {
			continue // needs the command line
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = string(b)
	}
	if len(golden) == 0 {
		t.Fatal("no golden inputs found")
	}
	for name, in := range inputs {
		bulk := runFrom(t, strings.NewReader(in))
		alone := runFrom(t, &lineReader{rest: []byte(in)})
		if bulk != alone {
			t.Errorf("%s: replies differ\nbuffered:\n%s\none line at a time:\n%s", name, bulk, alone)
		}
	}
	// The mixed inputs do route: most replies are 200s.
	if out := runFrom(t, strings.NewReader(inputs["mixed 0"])); strings.Count(out, `"status":200`) < 500 {
		t.Errorf("mixed input: %d replies with status 200, want at least 500:\n%s", strings.Count(out, `"status":200`), out)
	}
}
