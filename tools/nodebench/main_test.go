package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as a fake node when NODEBENCH_FAKE is set: it answers init
// and config with *_ok and each request with http_response, misbehaving as
// the mode says.
func TestMain(m *testing.M) {
	if mode := os.Getenv("NODEBENCH_FAKE"); mode != "" {
		fakeNode(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeNode(mode string) {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i := 0; in.Scan(); i++ {
		var msg struct {
			Src  string
			Body struct {
				Type  string
				MsgID int `json:"msg_id"`
			}
		}
		if err := json.Unmarshal(in.Bytes(), &msg); err != nil {
			fmt.Fprintln(os.Stderr, "fake: bad json:", err)
			os.Exit(2)
		}
		typ, status := msg.Body.Type+"_ok", 200
		if msg.Body.Type == "http_request" {
			typ = "http_response"
		}
		switch {
		case mode == "drop" && i == 5:
			continue
		case mode == "crash" && i == 5:
			out.Flush()
			fmt.Fprintln(os.Stderr, "fake: boom")
			os.Exit(3)
		case mode == "hang" && i == 5:
			out.Flush()
			time.Sleep(time.Hour)
		case mode == "404" && i%4 == 3:
			status = 404
		case mode == "swap" && i == 5:
			msg.Body.MsgID = 1
		}
		fmt.Fprintf(out, `{"src":"lb","dest":%q,"body":{"type":%q,"in_reply_to":%d,"msg_id":%d,"status":%d}}`+"\n",
			msg.Src, typ, msg.Body.MsgID, i, status)
	}
}

func gen(t *testing.T, n int, seed int64) []byte {
	var b bytes.Buffer
	if err := generate(&b, n, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := gen(t, 5000, 7), gen(t, 5000, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different streams")
	}
	if bytes.Equal(a, gen(t, 5000, 8)) {
		t.Fatal("different seeds, same stream")
	}
}

func TestGenerateValid(t *testing.T) {
	const n = 20000
	lines := strings.Split(strings.TrimSuffix(string(gen(t, n, 1)), "\n"), "\n")
	if len(lines) != n+setupMsgs {
		t.Fatalf("%d lines, want %d", len(lines), n+setupMsgs)
	}
	kinds := map[string]int{}
	for i, line := range lines {
		var msg struct {
			Src, Dest string
			Body      map[string]any
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&msg); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		if !strings.HasPrefix(line, `{"src":"c1","dest":"lb","body":{"type":"`) {
			t.Fatalf("line %d: bad envelope: %s", i+1, line)
		}
		if id, _ := msg.Body["msg_id"].(float64); int(id) != i+1 {
			t.Fatalf("line %d: msg_id %v", i+1, msg.Body["msg_id"])
		}
		if i < setupMsgs {
			continue
		}
		path, _ := msg.Body["path"].(string)
		switch {
		case msg.Body["cookies"] != nil:
			kinds["sticky"]++
		case msg.Body["headers"] != nil:
			kinds["host"]++
		case strings.HasSuffix(path, "?a=1&b=2"):
			kinds["rewrite"]++
		default:
			kinds["plain"]++
		}
	}
	for kind, want := range map[string]float64{"plain": .40, "host": .20, "sticky": .25, "rewrite": .15} {
		if got := float64(kinds[kind]) / n; got < want-.02 || got > want+.02 {
			t.Errorf("%s: %.3f of requests, want ~%.2f", kind, got, want)
		}
	}
	var cfg struct{ Body map[string]any }
	if err := json.Unmarshal([]byte(lines[1]), &cfg); err != nil || cfg.Body["type"] != "config" {
		t.Fatalf("config line: %v %s", err, lines[1])
	}
}

func runFake(t *testing.T, mode string, n int, timeout time.Duration) (*result, error) {
	t.Setenv("NODEBENCH_FAKE", mode)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	stream := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(stream, gen(t, n, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return run(bin, stream, n, false, timeout)
}

func TestRunFake(t *testing.T) {
	res, err := runFake(t, "ok", 1000, time.Minute)
	if err != nil || res.replies != 1002 || res.nerr() != 0 {
		t.Fatalf("ok: %v, %+v", err, res)
	}
	if res.cpu <= 0 || res.rssKiB <= 0 {
		t.Errorf("no rusage: %+v", res)
	}
	res, err = runFake(t, "404", 1000, time.Minute)
	if err != nil || res.errors["status 404"] != 250 {
		t.Fatalf("404: %v, %+v", err, res)
	}
	res, err = runFake(t, "swap", 1000, time.Minute)
	if err != nil || res.errors["in_reply_to out of order"] != 1 {
		t.Fatalf("swap: %v, %+v", err, res)
	}
	for mode, want := range map[string]string{
		"drop":  "1 missing",
		"crash": "exit status 3",
		"hang":  "timed out",
	} {
		_, err := runFake(t, mode, 1000, 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", mode, err, want)
		}
	}
}
