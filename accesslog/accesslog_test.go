package accesslog

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/observe"
)

// sink is a writer the test reads while the logger writes, recording
// when each write came.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes []time.Time
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, time.Now())
	return s.b.Write(p)
}

// lines waits (up to 3 s) for n lines and returns what was written.
func (s *sink) lines(t *testing.T, n int) []string {
	t.Helper()
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		s.mu.Lock()
		text := s.b.String()
		s.mu.Unlock()
		if strings.Count(text, "\n") >= n || time.Now().After(end) {
			out := strings.SplitAfter(text, "\n")
			return out[:len(out)-1]
		}
	}
}

func newLogger(t *testing.T, format string, sample float64, w *sink) *Logger {
	t.Helper()
	l, err := New(config.AccessLog{Format: format, Path: "stdout", Sample: sample}, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var start = time.Date(2026, 10, 10, 13, 55, 36, 123456789, time.UTC)

func exchange() *observe.Exchange {
	return &observe.Exchange{Route: 0, Server: 1, RouteName: "api", ServerName: "s2", Status: 502, Start: start,
		Duration: 1500 * time.Microsecond, Received: 80, Sent: 2326, Connect: -1, Upstream: 1200 * time.Microsecond,
		Retries: 1, Sticky: engine.StickyRepinned, Method: "GET", Target: "/a?b=1", Proto: "HTTP/1.1", Host: "shop.example.com",
		UserAgent: "curl/8.0", Referer: "http://r.example/", Client: "192.0.2.7", IDPrefix: "0123456789abcdef-", ID: 255,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
}

func TestJSON(t *testing.T) {
	w := &sink{}
	l := newLogger(t, config.FormatJSON, 1, w)
	l.Log(exchange(), "3-00112233aabbccdd")
	line := w.lines(t, 1)[0]
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	want := map[string]any{
		"time": "2026-10-10T13:55:36.123456789Z", "request_id": "0123456789abcdef-ff", "client_addr": "192.0.2.7",
		"method": "GET", "host": "shop.example.com", "path": "/a?b=1", "proto": "HTTP/1.1", "status": 502.0,
		"bytes_received": 80.0, "bytes_sent": 2326.0, "duration_us": 1500.0, "route": "api", "server": "s2",
		"upstream_time_us": 1200.0, "retries": 1.0, "sticky": "repinned", "user_agent": "curl/8.0",
		"referer": "http://r.example/", "config_revision": "3-00112233aabbccdd", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d fields, want %d: %s", len(got), len(want), line)
	}
}

func TestText(t *testing.T) {
	w := &sink{}
	l := newLogger(t, config.FormatText, 1, w)
	x := exchange()
	x.TraceID, x.ID, x.RequestID, x.Upstream = "", 0, "client-id", -1
	l.Log(x, "3-00112233aabbccdd")
	want := `time=2026-10-10T13:55:36.123Z request_id=client-id client_addr=192.0.2.7 method=GET host=shop.example.com path="/a?b=1" ` +
		`proto=HTTP/1.1 status=502 bytes_received=80 bytes_sent=2326 duration_us=1500 route=api server=s2 upstream_time_us=-1 retries=1 ` +
		`sticky=repinned user_agent=curl/8.0 referer=http://r.example/ config_revision=3-00112233aabbccdd` + "\n"
	if got := w.lines(t, 1)[0]; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCommon(t *testing.T) {
	w := &sink{}
	l := newLogger(t, config.FormatCommon, 1, w)
	l.Log(exchange(), "3-00112233aabbccdd")
	x := exchange()
	x.Method, x.Target, x.Proto, x.Sent, x.UserAgent, x.Referer, x.TraceID, x.RouteName, x.ServerName = "", "", "", 0, "", "", "", "", ""
	l.Log(x, "3-00112233aabbccdd")
	want := []string{
		`192.0.2.7 - - [10/Oct/2026:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 502 2326 "http://r.example/" "curl/8.0" ` +
			`request_id=0123456789abcdef-ff host="shop.example.com" route=api server=s2 duration_us=1500 upstream_time_us=1200 ` +
			`retries=1 sticky=repinned bytes_received=80 config_revision=3-00112233aabbccdd trace_id=4bf92f3577b34da6a3ce929d0e0e4736` + "\n",
		`192.0.2.7 - - [10/Oct/2026:13:55:36 +0000] "-" 502 - "-" "-" ` +
			`request_id=0123456789abcdef-ff host="shop.example.com" route=- server=- duration_us=1500 upstream_time_us=1200 ` +
			`retries=1 sticky=repinned bytes_received=80 config_revision=3-00112233aabbccdd` + "\n",
	}
	got := w.lines(t, 2)
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("line %d:\ngot  %q\nwant %q", i+1, got, want[i])
		}
	}
}

// TestNoForgery: what a client sends (target, host, user agent, request
// id) cannot start a line or a field of its own, in any format: control
// bytes, quotes and invalid UTF-8 come out escaped, one line per request.
func TestNoForgery(t *testing.T) {
	evil := "/x\n192.0.2.9 - - [x] \"GET /forged\" 200\r\x00\x1b[31m\"\\\xff\xfe é"
	for _, format := range []string{config.FormatJSON, config.FormatText, config.FormatCommon} {
		t.Run(format, func(t *testing.T) {
			w := &sink{}
			l := newLogger(t, format, 1, w)
			x := exchange()
			x.Target, x.Host, x.UserAgent, x.RequestID, x.ID = evil, evil, evil, evil, 0
			l.Log(x, "1-0")
			l.Log(exchange(), "1-0")
			lines := w.lines(t, 2)
			if len(lines) != 2 {
				t.Fatalf("%d lines, want 2:\n%q", len(lines), lines)
			}
			line := lines[0]
			if strings.ContainsAny(strings.TrimSuffix(line, "\n"), "\n\r\x00\x1b") || strings.Contains(line, "\xff") {
				t.Errorf("raw control or invalid bytes in %q", line)
			}
			switch format {
			case config.FormatJSON:
				var got map[string]any
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("not JSON: %v\n%q", err, line)
				}
				// JSON has no way to carry a byte that is not UTF-8:
				// it becomes U+FFFD, everything else round-trips.
				if want := strings.ReplaceAll(evil, "\xff\xfe", "\ufffd\ufffd"); got["path"] != want {
					t.Errorf("path = %q, want %q", got["path"], want)
				}
			case config.FormatText:
				if !strings.Contains(line, `path="/x\n192.0.2.9 - - [x] \"GET /forged\" 200\r\x00\x1b[31m\"\\\xff\xfe é"`) {
					t.Errorf("path not quoted and escaped in %q", line)
				}
			case config.FormatCommon:
				want := `"GET /x\x0a192.0.2.9 - - [x] \"GET /forged\" 200\x0d\x00\x1b[31m\"\\\xff\xfe é HTTP/1.1"`
				if !strings.Contains(line, want) {
					t.Errorf("request line not escaped:\n%s\nwant it to contain\n%s", line, want)
				}
				if !regexp.MustCompile(`^192\.0\.2\.7 - - \[[^]]+\] "[^"\\]*(\\.[^"\\]*)*" 502 2326 `).MatchString(line) {
					t.Errorf("the fields before the status do not parse: %s", line)
				}
			}
		})
	}
}

// TestSample: with sample 0 only server-side failures are logged; with a
// share, about that share of the rest.
func TestSample(t *testing.T) {
	w := &sink{}
	l := newLogger(t, config.FormatText, 0, w)
	for _, status := range []int{200, 404, 500, 503, 301} {
		x := exchange()
		x.Status = status
		l.Log(x, "1-0")
	}
	l.Close()
	if got := w.lines(t, 2); len(got) != 2 || !strings.Contains(got[0], "status=500") || !strings.Contains(got[1], "status=503") {
		t.Errorf("sample 0 logged:\n%s", got)
	}

	w = &sink{}
	l = newLogger(t, config.FormatText, 0.25, w)
	const n = 4000
	x := exchange()
	x.Status = 200
	for range n {
		l.Log(x, "1-0")
	}
	l.Close()
	// Binomial(4000, 0.25): mean 1000, sd 27; ±200 is over 7 sd.
	if got := len(w.lines(t, n)); got < 800 || got > 1200 {
		t.Errorf("sample 0.25 logged %d of %d", got, n)
	}
}

// TestPrompt: a line reaches the file when its request ends, not at the
// next periodic flush: each of several lines, spaced out, is written
// within a small part of a second.
func TestPrompt(t *testing.T) {
	w := &sink{}
	l := newLogger(t, config.FormatText, 1, w)
	for i := range 5 {
		logged := time.Now()
		l.Log(exchange(), "1-0")
		w.lines(t, i+1)
		w.mu.Lock()
		at := w.writes[len(w.writes)-1]
		w.mu.Unlock()
		if d := at.Sub(logged); d > 250*time.Millisecond {
			t.Errorf("line %d written %v after its request", i+1, d)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestReopen: after the file is renamed (logrotate), Reopen makes the
// lines that follow go to a new file of the old name; none is lost.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l, err := New(config.AccessLog{Format: config.FormatText, Path: path, Sample: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	x := exchange()
	x.Retries = 1
	l.Log(x, "1-0")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	x.Retries = 2
	l.Log(x, "1-0") // before the reopen: still the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	x.Retries = 3
	l.Log(x, "1-0")
	l.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if strings.Count(string(old), "\n") != 2 || !strings.Contains(string(old), "retries=1 ") || !strings.Contains(string(old), "retries=2 ") {
		t.Errorf("rotated file:\n%s", old)
	}
	if strings.Count(string(cur), "\n") != 1 || !strings.Contains(string(cur), "retries=3 ") {
		t.Errorf("new file:\n%s", cur)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("new file: %v %v, want mode 0640", info.Mode(), err)
	}
}

// TestBackpressure: a writer slower than the lines holds at most
// maxPending bytes back; every line arrives, in order.
func TestBackpressure(t *testing.T) {
	w := &slowSink{}
	l, err := New(config.AccessLog{Format: config.FormatText, Path: "stdout", Sample: 1}, w)
	if err != nil {
		t.Fatal(err)
	}
	x := exchange()
	for i := range 5000 {
		x.Retries = i
		l.Log(x, "1-0")
	}
	l.Close()
	lines := strings.Split(strings.TrimSuffix(w.b.String(), "\n"), "\n")
	if len(lines) != 5000 {
		t.Fatalf("%d lines, want 5000", len(lines))
	}
	for i, line := range lines {
		if !strings.Contains(line, " retries="+strconv.Itoa(i)+" ") {
			t.Fatalf("line %d out of order: %s", i, line)
		}
	}
	if w.max > maxPending+4096 {
		t.Errorf("a write of %d bytes: more than maxPending was held", w.max)
	}
}

type slowSink struct {
	mu  sync.Mutex
	b   bytes.Buffer
	max int
}

func (s *slowSink) Write(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.max = max(s.max, len(p))
	return s.b.Write(p)
}

func TestLogAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, format := range []string{config.FormatJSON, config.FormatText, config.FormatCommon} {
		l := newLogger(t, format, 1, &sink{})
		x := exchange()
		if n := testing.AllocsPerRun(200, func() { l.Log(x, "1-0") }); n != 0 {
			t.Errorf("%s: %v allocations per line", format, n)
		}
	}
}

// BenchmarkLog is the cost of one line in each format, written to a
// discarding writer (no system call): formatting and batching.
func BenchmarkLog(b *testing.B) {
	for _, format := range []string{config.FormatText, config.FormatJSON, config.FormatCommon} {
		b.Run(format, func(b *testing.B) {
			l, err := New(config.AccessLog{Format: format, Path: "stdout", Sample: 1}, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			x := exchange()
			b.ReportAllocs()
			for b.Loop() {
				l.Log(x, "3-00112233aabbccdd")
			}
		})
	}
}
