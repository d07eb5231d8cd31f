package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

const adminToken = "e2e-admin-token"

// adminDo sends a request to the admin listener at addr, with the token
// when token is set, and returns the status and body.
func adminDo(t testing.TB, addr, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := newClient(t, false).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// revisionOf reads the running revision from /stats.
func revisionOf(t testing.TB, admin string) uint64 {
	rev, _ := configStats(t, admin)
	return rev
}

// configStats reads the running revision and how many configurations
// were accepted or rejected, from /stats.
func configStats(t testing.TB, admin string) (revision, reloads uint64) {
	t.Helper()
	code, body := adminDo(t, admin, "GET", "/stats", "", "")
	var s struct {
		Config struct {
			Revision uint64 `json:"revision"`
			Reloads  struct {
				Accepted, Rejected uint64
			} `json:"reloads"`
		} `json:"config"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("/stats: %d %s", code, body)
	}
	return s.Config.Revision, s.Config.Reloads.Accepted + s.Config.Reloads.Rejected
}

// streamBackend serves /download: size bytes of a seeded pseudo-random
// stream, with Content-Length.
func streamBackend(t testing.TB, size int64) (*backend, [32]byte) {
	gen := func(w io.Writer) {
		r := rand.NewChaCha8([32]byte{7})
		buf := make([]byte, 64<<10)
		for left := size; left > 0; {
			n := min(int64(len(buf)), left)
			r.Read(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			left -= n
		}
	}
	h := sha256.New()
	gen(h)
	var sum [32]byte
	h.Sum(sum[:0])
	b := newHandlerBackend(t, "dl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		gen(w)
	})
	return b, sum
}

// wsBackend is a WebSocket echo server.
func wsBackend(t testing.TB) *backend {
	b := &backend{ID: "ws"}
	srv := &http.Server{Handler: websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) })}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b.URL = "http://" + ln.Addr().String()
	return b
}

// TestReloadUnderLoad runs a WebSocket session, a 200 MiB download, a
// keep-alive client and a sticky client through 100 reloads that alternate
// two configurations, every tenth one invalid, half by SIGHUP and half by
// POST /reload: no request fails, the WebSocket keeps echoing, the
// download's SHA-256 matches, the keep-alive client keeps its one
// connection, and the sticky client changes server only when its server
// was removed (s3, in configuration A only).
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 100 reloads under load")
	}
	const size = 200 << 20
	dl, sum := streamBackend(t, size)
	ws := wsBackend(t)
	s := newBackends(t, 3)
	admin, second := freePort(t), freePort(t)
	servers := fmt.Sprintf("servers:\n  s1: %s\n  s2: %s\n  s3: %s\n  dl: %s\n  ws: %s\n", s[0].URL, s[1].URL, s[2].URL, dl.URL, ws.URL)
	common := fmt.Sprintf("admin: %q\nadmin_token: %s\ndrain_timeout: 2s\nsticky: {secrets: [reload-secret]}\n", admin, adminToken) + servers
	routes := "  - {name: ws, path: /ws, servers: [ws], sticky: false}\n  - {name: dl, path: /download, servers: [dl], sticky: false}\n"
	listen := freePort(t)
	configA := fmt.Sprintf("listen: %q\n", listen) + common + "routes:\n" + routes + "default_servers: [s1, s2, s3]\ntimeouts: {connect: 2s}\n"
	configB := fmt.Sprintf("listeners:\n  - {address: %q}\n  - {address: %q}\n", listen, second) + common + "routes:\n" + routes +
		"  - {name: extra, path: /extra/*, servers: [s2], rewrite: {strip_prefix: /extra}}\ndefault_servers: [s1, s2]\ntimeouts: {connect: 3s}\n"
	invalid := strings.Replace(configA, "routes:\n", "routes:\n  - {name: broken, path: /broken, servers: [nope]}\n", 1)

	dir := t.TempDir()
	file := filepath.Join(dir, "l7lb.yaml")
	writeConfig := func(text string) {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(configA)
	p, err := launch(t, file, serveOpts{})
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Addr

	var stop atomic.Bool
	var wg sync.WaitGroup
	fail := make(chan string, 100)
	failf := func(format string, args ...any) {
		select {
		case fail <- fmt.Sprintf(format, args...):
		default:
		}
	}

	// The WebSocket session: a message every 5 ms, each echoed.
	var echoes atomic.Int64
	wsConn, err := websocket.Dial("ws://"+addr+"/ws", "", "http://"+addr)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer wsConn.Close()
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			msg := fmt.Sprintf("message %d", i)
			wsConn.SetDeadline(time.Now().Add(clientTO))
			if err := websocket.Message.Send(wsConn, msg); err != nil {
				failf("websocket send %d: %v", i, err)
				return
			}
			var got string
			if err := websocket.Message.Receive(wsConn, &got); err != nil || got != msg {
				failf("websocket echo %d: %q, %v", i, got, err)
				return
			}
			echoes.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	})

	// The download, read slowly enough to last through the reloads.
	var downloaded atomic.Int64
	dlDone := make(chan struct{})
	wg.Go(func() {
		defer close(dlDone)
		resp, err := newClient(t, false).Get("http://" + addr + "/download")
		if err != nil {
			failf("download: %v", err)
			return
		}
		defer resp.Body.Close()
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for {
			n, err := io.ReadFull(resp.Body, buf)
			h.Write(buf[:n])
			downloaded.Add(int64(n))
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				failf("download after %d bytes: %v", downloaded.Load(), err)
				return
			}
			if !stop.Load() {
				time.Sleep(20 * time.Millisecond)
			}
		}
		var got [32]byte
		h.Sum(got[:0])
		if downloaded.Load() != size || got != sum {
			failf("download: %d bytes, SHA-256 %x, want %d bytes, %x", downloaded.Load(), got, size, sum)
		}
	})

	// The keep-alive client: one connection for all its requests.
	var kaRequests, kaConns atomic.Int64
	wg.Go(func() {
		c := newClient(t, false)
		c.Transport.(*http.Transport).MaxConnsPerHost = 1
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				kaConns.Add(1)
			}
		}}
		for !stop.Load() {
			req := request(t, "GET", addr, "", "/ka", nil)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			resp, err := c.Do(req)
			if err != nil {
				failf("keep-alive request %d: %v", kaRequests.Load(), err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failf("keep-alive request %d: status %d", kaRequests.Load(), resp.StatusCode)
				return
			}
			kaRequests.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	})

	// Two sticky clients, one pinned to s1 or s2, the other to s3 (which
	// configuration B removes): a client's server changes only when it
	// was s3.
	var stickyRequests atomic.Int64
	var moves []string
	var movesMu sync.Mutex
	stickyClient := func(onS3 bool) *http.Client {
		for range 100 {
			c := newClient(t, true)
			if r := get(t, c, addr, "", "/sticky"); (r.Backend == "s3") == onS3 {
				return c
			}
		}
		t.Fatalf("no session on s3 = %v in 100 tries", onS3)
		return nil
	}
	for _, c := range []*http.Client{stickyClient(false), stickyClient(true)} {
		wg.Go(func() {
			last := ""
			for !stop.Load() {
				r, err := c.Do(request(t, "GET", addr, "", "/sticky", nil))
				if err != nil {
					failf("sticky request: %v", err)
					return
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				server := r.Header.Get("X-Backend")
				if r.StatusCode != 200 || server == "" {
					failf("sticky request: %d from %q", r.StatusCode, server)
					return
				}
				if last != "" && server != last {
					movesMu.Lock()
					moves = append(moves, last+"→"+server)
					movesMu.Unlock()
					if last != "s3" {
						failf("a sticky client moved from %s, which was never removed, to %s", last, server)
					}
				}
				last = server
				stickyRequests.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	// 100 reloads: A and B in turn, every tenth invalid; even ones by
	// SIGHUP (waiting for the log line), odd ones by POST /reload.
	applied, rejected, revisions := 0, 0, 1
	running, secondSeen := configA, false
	for i := 1; i <= 100; i++ {
		text, bad := configB, false
		switch {
		case i%10 == 0:
			text, bad = invalid, true
		case i%2 == 1:
			text = configA
		}
		writeConfig(text)
		if i%2 == 0 {
			// The log is read asynchronously: /stats says when the
			// reload is done.
			_, before := configStats(t, admin)
			p.cmd.Process.Signal(syscall.SIGHUP)
			if !waitFor(10*time.Second, func() bool { _, n := configStats(t, admin); return n > before }) {
				t.Fatalf("reload %d by SIGHUP: not done; stderr:\n%s", i, p.stderr)
			}
		} else {
			code, body := adminDo(t, admin, "POST", "/reload", adminToken, "")
			if bad && (code != 422 || !strings.Contains(body, `"field": "routes[0].servers[0]"`) || !strings.Contains(body, `"line":`)) ||
				!bad && code != 200 {
				t.Fatalf("reload %d by POST /reload: %d %s", i, code, body)
			}
		}
		switch {
		case bad:
			rejected++
		case text != running:
			// A reload to the running configuration (the one after an
			// invalid one) keeps the revision.
			applied++
			revisions++
			running = text
		default:
			applied++
		}
		if text == configB && !secondSeen {
			// The listener B adds serves.
			if r := get(t, newClient(t, false), second, "", "/extra/x"); r.Status != 200 || r.Backend != "s2" || r.Path != "/x" {
				t.Errorf("the second listener of configuration B: %d from %s, path %s", r.Status, r.Backend, r.Path)
			}
			secondSeen = true
		}
		select {
		case msg := <-fail:
			t.Fatalf("after %d reloads: %s", i, msg)
		default:
		}
	}
	// The last configuration is A (reload 99; 100 was invalid).
	if rev := revisionOf(t, admin); rev != uint64(revisions) {
		var lines []string
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(l, "revision") || strings.Contains(l, "SIGHUP") || strings.Contains(l, "admin:") {
				lines = append(lines, l)
			}
		}
		t.Errorf("revision %d after %d accepted reloads, want %d; the log:\n%s", rev, applied, revisions, strings.Join(lines, "\n"))
	}
	if _, err := net.DialTimeout("tcp", second, time.Second); err == nil {
		t.Errorf("the second listener still accepts under configuration A")
	}
	stop.Store(true)
	select {
	case <-dlDone:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the download did not end: %d bytes", downloaded.Load())
	}
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	if echoes.Load() < 20 || kaRequests.Load() < 20 || stickyRequests.Load() < 20 {
		t.Errorf("too little traffic during the reloads: %d echoes, %d keep-alive requests, %d sticky requests", echoes.Load(), kaRequests.Load(), stickyRequests.Load())
	}
	if len(moves) == 0 {
		t.Errorf("the client on s3 never moved, though configuration B removes s3")
	}
	if n := kaConns.Load(); n != 1 {
		t.Errorf("the keep-alive client opened %d connections, want 1", n)
	}
	if !waitFor(5*time.Second, func() bool { return strings.Count(p.stderr.String(), "configuration rejected") == rejected }) {
		t.Errorf("%d rejections logged, want %d", strings.Count(p.stderr.String(), "configuration rejected"), rejected)
	}
	t.Logf("%d reloads (%d rejected): %d echoes, %d MiB downloaded, %d keep-alive and %d sticky requests, sticky moves %v",
		applied+rejected, rejected, echoes.Load(), downloaded.Load()>>20, kaRequests.Load(), stickyRequests.Load(), moves)
}

// TestAdminConfig checks PUT /config: without the token 401 and nothing
// changes; a dry run answers the changes and the diff and changes
// nothing; with the token the configuration applies; an invalid one is
// 422 with the field and line; GET /config gives back what PUT took.
func TestAdminConfig(t *testing.T) {
	bs := newBackends(t, 2)
	admin := freePort(t)
	p := startServe(t, bs, fmt.Sprintf("admin: %q\nadmin_token: %s\ndefault_servers: [s1]\n", admin, adminToken))
	next := serversYAML(strings.Split(p.Addr, " ")[0], bs) + fmt.Sprintf("admin: %q\nadmin_token: %s\n", admin, adminToken) +
		"routes:\n  - {name: two, path: /two/*, servers: [s2]}\ndefault_servers: [s1]\n"

	if code, body := adminDo(t, admin, "PUT", "/config", "", next); code != 401 || !strings.Contains(body, `"error"`) {
		t.Errorf("PUT /config without the token: %d %s", code, body)
	}
	if r := get(t, newClient(t, false), p.Addr, "", "/two/x"); r.Backend != "s1" {
		t.Errorf("after a refused PUT, /two/x went to %s", r.Backend)
	}
	if !strings.Contains(p.stderr.String(), "admin: PUT /config") || !strings.Contains(p.stderr.String(), "refused") {
		t.Errorf("the refused write is not logged:\n%s", p.stderr)
	}

	code, body := adminDo(t, admin, "PUT", "/config?dry_run=1", adminToken, next)
	var dry struct {
		DryRun   bool   `json:"dry_run"`
		Proposed string `json:"proposed"`
		Diff     string `json:"diff"`
		Changes  struct {
			Routes struct{ Added []string } `json:"routes"`
		} `json:"changes"`
		Revision struct{ N uint64 } `json:"revision"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &dry) != nil || !dry.DryRun || dry.Revision.N != 1 ||
		len(dry.Changes.Routes.Added) != 1 || dry.Changes.Routes.Added[0] != "two" ||
		!strings.Contains(dry.Diff, "\n+    - balance: round_robin\n") || !strings.Contains(dry.Diff, "+      name: two\n") || !strings.HasPrefix(dry.Diff, "--- running (revision 1 ") {
		t.Errorf("dry run: %d %s", code, body)
	}
	if r := get(t, newClient(t, false), p.Addr, "", "/two/x"); r.Backend != "s1" {
		t.Errorf("a dry run applied: /two/x went to %s", r.Backend)
	}

	bad := strings.Replace(next, "servers: [s2]", "servers: [s9]", 1)
	code, body = adminDo(t, admin, "PUT", "/config", adminToken, bad)
	if code != 422 || !strings.Contains(body, `"field": "routes[0].servers[0]"`) || !strings.Contains(body, `"error": "unknown server s9"`) {
		t.Errorf("PUT of an invalid configuration: %d %s", code, body)
	}

	code, body = adminDo(t, admin, "PUT", "/config", adminToken, next)
	if code != 200 || !strings.Contains(body, `"n": 2`) || !strings.Contains(body, dry.Proposed) {
		t.Errorf("PUT /config: %d %s", code, body)
	}
	if r := get(t, newClient(t, false), p.Addr, "", "/two/x"); r.Backend != "s2" {
		t.Errorf("after PUT /config, /two/x went to %s", r.Backend)
	}
	_, got := adminDo(t, admin, "GET", "/config", adminToken, "")
	if !strings.Contains(got, "name: two") || !strings.Contains(got, "admin_token: "+adminToken) {
		t.Errorf("GET /config with the token:\n%s", got)
	}
	// What GET /config gives, PUT takes back unchanged.
	code, body = adminDo(t, admin, "PUT", "/config", adminToken, got)
	if code != 200 || !strings.Contains(body, `"unchanged": true`) {
		t.Errorf("PUT of GET /config's document: %d %s", code, body)
	}
	_, redacted := adminDo(t, admin, "GET", "/config", "", "")
	if strings.Contains(redacted, adminToken) {
		t.Errorf("GET /config without the token shows the token:\n%s", redacted)
	}
}

// TestAdminRefusesOpenAddressWithoutToken checks that serve does not start
// with an admin listener off loopback and no token.
func TestAdminRefusesOpenAddressWithoutToken(t *testing.T) {
	bs := newBackends(t, 1)
	open := "0.0.0.0:" + strings.Split(freePort(t), ":")[1]
	cfg := writeFile(t, "open.yaml", serversYAML(freePort(t), bs)+"admin: "+open+"\n")
	_, err := launch(t, cfg, serveOpts{})
	if err == nil || !strings.Contains(err.Error(), "admin: "+open+" is not a loopback address: set admin_token (or L7LB_ADMIN_TOKEN)") {
		t.Errorf("serve with an open admin address and no token: %v", err)
	}
}

// TestDrainUnderLoad drains s1 while eight clients send requests that take
// 20 ms each: no request fails, no new request reaches s1 once the drain
// answered, s1's sticky session goes on until drain_timeout, then moves.
func TestDrainUnderLoad(t *testing.T) {
	var mu sync.Mutex
	var drainedAt time.Time
	lateS1 := 0
	slow := func(id string) *backend {
		return newHandlerBackend(t, id, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if id == "s1" && !drainedAt.IsZero() && r.Header.Get("X-Sticky-Client") == "" {
				lateS1++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, id)
		})
	}
	bs := []*backend{slow("s1"), slow("s2")}
	admin := freePort(t)
	p := startServe(t, bs, fmt.Sprintf("admin: %q\nadmin_token: %s\ndrain_timeout: 3s\n", admin, adminToken))

	// A sticky client pinned to s1.
	sticky := newClient(t, true)
	for i := 0; ; i++ {
		r := get(t, sticky, p.Addr, "", "/")
		if r.Backend == "s1" {
			break
		}
		sticky.Jar, _ = cookiejar.New(nil)
		if i > 50 {
			t.Fatal("no session on s1")
		}
	}
	var stop atomic.Bool
	var failures, sent atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		c := newClient(t, false)
		wg.Go(func() {
			for !stop.Load() && sent.Add(1) < 5000 {
				resp, err := c.Get("http://" + p.Addr + "/")
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	code, body := adminDo(t, admin, "POST", "/servers/s1/drain", adminToken, "")
	mu.Lock()
	drainedAt = time.Now()
	mu.Unlock()
	if code != 200 || !strings.Contains(body, `"state": "draining"`) {
		t.Fatalf("drain: %d %s", code, body)
	}
	// Requests in flight when the drain answered may still arrive
	// (they were routed before): give them time, on a busy machine.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	lateS1 = 0
	mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		req := request(t, "GET", p.Addr, "", "/", nil)
		req.Header.Set("X-Sticky-Client", "1")
		if r := do(t, sticky, req); r.Backend != "s1" {
			t.Fatalf("the session on s1 moved to %s during the drain", r.Backend)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	wait := 3200*time.Millisecond - time.Since(drainedAt)
	mu.Unlock()
	time.Sleep(wait) // drain_timeout is over
	req := request(t, "GET", p.Addr, "", "/", nil)
	req.Header.Set("X-Sticky-Client", "1")
	if r := do(t, sticky, req); r.Backend != "s2" {
		t.Errorf("after drain_timeout the session is on %s, want s2", r.Backend)
	}
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if lateS1 != 0 {
		t.Errorf("%d new requests reached the drained s1", lateS1)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed", failures.Load(), sent.Load())
	}
	_, servers := adminDo(t, admin, "GET", "/servers", "", "")
	if !strings.Contains(servers, `"state": "disabled"`) {
		t.Errorf("GET /servers after the drain timed out:\n%s", servers)
	}
	code, _ = adminDo(t, admin, "POST", "/servers/s1/enable", adminToken, "")
	if code != 200 {
		t.Errorf("enable: %d", code)
	}
}

// TestWatchAtomicRename checks that serve --watch applies a configuration
// renamed over the file, and ignores a rename that changes nothing.
func TestWatchAtomicRename(t *testing.T) {
	bs := newBackends(t, 2)
	dir := t.TempDir()
	file := filepath.Join(dir, "l7lb.yaml")
	base := serversYAML(freePort(t), bs)
	os.WriteFile(file, []byte(base+"default_servers: [s1]\n"), 0o644)
	p, err := launch(t, file, serveOpts{args: []string{"--watch"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := get(t, newClient(t, false), p.Addr, "", "/"); r.Backend != "s1" {
		t.Fatalf("before: %s", r.Backend)
	}
	tmp := filepath.Join(dir, ".l7lb.yaml.new")
	os.WriteFile(tmp, []byte(base+"default_servers: [s2]\n"), 0o644)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(p.stderr.String(), "configuration applied: revision 2") }) {
		t.Fatalf("no reload after the rename; stderr:\n%s", p.stderr)
	}
	if r := get(t, newClient(t, false), p.Addr, "", "/"); r.Backend != "s2" {
		t.Errorf("after the rename: %s", r.Backend)
	}
	// Touching the file with the same contents reloads nothing.
	os.WriteFile(tmp, []byte(base+"default_servers: [s2]\n"), 0o644)
	os.Rename(tmp, file)
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(p.stderr.String(), "--watch:"); n != 1 {
		t.Errorf("%d --watch lines, want 1:\n%s", n, p.stderr)
	}
}
