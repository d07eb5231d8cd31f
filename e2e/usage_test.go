package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"l7lb/testlog"
)

// The first line of each command's usage. Written from the command list in
// README.md: the required flags, the optional ones in brackets, then the
// arguments.
var usageLines = map[string]string{
	"l7lb":         "Usage: l7lb [--config FILE]",
	"l7lb serve":   "Usage: l7lb serve --config FILE [--access-log=false] [--pid-file FILE] [--upgrade] [--watch]",
	"l7lb check":   "Usage: l7lb check --config FILE",
	"l7lb explain": "Usage: l7lb explain --config FILE [-H 'Name: value']... METHOD URL",
	"l7lb demo":    "Usage: l7lb demo [--listen ADDRESS] [--tls-listen ADDRESS]",
	"l7lb version": "Usage: l7lb version",
	"l7lb help":    "Usage: l7lb help [COMMAND] [SUBCOMMAND]",
	"l7lb fleet":   "Usage: l7lb fleet",
}

// What each command's usage must say about its flags: every flag, with
// its default when it has one.
var usageFlags = map[string][]string{
	"l7lb":         {"--config FILE ", "not - "},
	"l7lb serve":   {"--config FILE ", "(required)", "--access-log ", "(default true)"},
	"l7lb check":   {"--config FILE ", "(required)", "- reads it from standard input"},
	"l7lb explain": {"--config FILE ", "(required)", "-H 'Name: value' ", "repeatable"},
	"l7lb demo":    {"--listen ADDRESS ", "(default 127.0.0.1:8080)", "--tls-listen ADDRESS ", "(default 127.0.0.1:8443)"},
	"l7lb version": {},
	"l7lb help":    {},
	"l7lb fleet":   {},
}

// unreadStdin returns a standard input for a process that must not read
// it: a pipe holding one byte whose write end stays open, so that a read
// either takes the byte or blocks until the test's time runs out. After the
// process has exited, unread reports whether the byte is still there.
func unreadStdin(t *testing.T) (stdin *os.File, unread func() bool) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if _, err := w.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	return r, func() bool {
		w.Close() // the byte, or EOF at once if the process took it
		rest, _ := io.ReadAll(r)
		return string(rest) == "x"
	}
}

// TestUsageErrors runs every command with an unknown flag, a missing and
// an extra argument: each is exit 2, one line naming the fault and then the
// command's usage on stderr, nothing on stdout, and standard input unread.
func TestUsageErrors(t *testing.T) {
	const good = "testdata/good.yaml"
	for _, tc := range []struct {
		args  []string
		first string // stderr's first line
		usage string // whose usage follows
	}{
		{[]string{"foo"}, `l7lb: unknown command "foo"`, "l7lb"},
		{[]string{"fleet"}, "l7lb fleet: missing command", "l7lb fleet"},
		{[]string{"fleet", "bogus"}, `l7lb fleet: unknown command "bogus"`, "l7lb fleet"},
		{[]string{"fleet", "push"}, "l7lb fleet push: missing flag --config", "l7lb fleet push"},
		{[]string{"fleet", "push", "--config", good, "--bogus"}, "l7lb fleet push: unknown flag --bogus", "l7lb fleet push"},
		{[]string{"fleet", "push", "--config", good, "--if-revision", "x"}, `l7lb fleet push: invalid value "x" for flag -if-revision: parse error`, "l7lb fleet push"},
		{[]string{"fleet", "get", "extra"}, `l7lb fleet get: unexpected argument "extra"`, "l7lb fleet get"},
		{[]string{"fleet", "status", "--etcd"}, "l7lb fleet status: flag --etcd needs a value", "l7lb fleet status"},
		{[]string{"fleet", "status"}, "l7lb fleet status: give --etcd and --prefix, or --instance", "l7lb fleet status"},
		{[]string{"fleet", "drain"}, "l7lb fleet drain: missing argument SERVER", "l7lb fleet drain"},
		{[]string{"fleet", "enable", "a", "b"}, `l7lb fleet enable: unexpected argument "b"`, "l7lb fleet enable"},
		{[]string{"fleet", "disable", "--timeout", "1s", "a"}, "l7lb fleet disable: unknown flag --timeout", "l7lb fleet disable"},
		{[]string{"--bogus"}, "l7lb: unknown flag --bogus", "l7lb"},
		{[]string{"--config"}, "l7lb: flag --config needs a value", "l7lb"},
		{[]string{"--config", good, "extra"}, `l7lb: unexpected argument "extra"`, "l7lb"},
		{[]string{"--config", good, "serve"}, `l7lb: unexpected argument "serve" (the command goes first: l7lb serve ...)`, "l7lb"},
		{[]string{"--config", "-"}, "l7lb: --config -: standard input carries the node's messages; give the configuration as a file", "l7lb"},

		{[]string{"serve", "--bogus", "--config", good}, "l7lb serve: unknown flag --bogus", "l7lb serve"},
		{[]string{"serve", "-bogus=1"}, "l7lb serve: unknown flag -bogus", "l7lb serve"},
		{[]string{"serve"}, "l7lb serve: missing flag --config", "l7lb serve"},
		{[]string{"serve", "--config"}, "l7lb serve: flag --config needs a value", "l7lb serve"},
		{[]string{"serve", "--config", good, "extra"}, `l7lb serve: unexpected argument "extra"`, "l7lb serve"},
		{[]string{"serve", "--access-log=maybe", "--config", good}, `l7lb serve: invalid boolean value "maybe" for -access-log: parse error`, "l7lb serve"},

		{[]string{"check", "--config", good, "--verbose"}, "l7lb check: unknown flag --verbose", "l7lb check"},
		{[]string{"check"}, "l7lb check: missing flag --config", "l7lb check"},
		{[]string{"check", "--config", ""}, "l7lb check: missing flag --config", "l7lb check"},
		{[]string{"check", "--config", good, good}, `l7lb check: unexpected argument "testdata/good.yaml"`, "l7lb check"},

		{[]string{"explain", "-X", "POST", "--config", good, "GET", "/"}, "l7lb explain: unknown flag -X", "l7lb explain"},
		{[]string{"explain", "GET", "/"}, "l7lb explain: missing flag --config", "l7lb explain"},
		{[]string{"explain", "--config", good}, "l7lb explain: missing arguments METHOD URL", "l7lb explain"},
		{[]string{"explain", "--config", good, "GET"}, "l7lb explain: missing argument URL", "l7lb explain"},
		{[]string{"explain", "--config", good, "GET", "/", "/x"}, `l7lb explain: unexpected argument "/x"`, "l7lb explain"},
		{[]string{"explain", "--config", good, "-H", "NoColon", "GET", "/"}, `l7lb explain: invalid value "NoColon" for flag -H: want 'Name: value', got "NoColon"`, "l7lb explain"},

		{[]string{"demo", "--port", "80"}, "l7lb demo: unknown flag --port", "l7lb demo"},
		{[]string{"demo", "--listen"}, "l7lb demo: flag --listen needs a value", "l7lb demo"},
		{[]string{"demo", "now"}, `l7lb demo: unexpected argument "now"`, "l7lb demo"},
		// demo takes no configuration (it used to accept --config and ignore it).
		{[]string{"demo", "--config", good}, "l7lb demo: unknown flag --config", "l7lb demo"},

		{[]string{"version", "--short"}, "l7lb version: unknown flag --short", "l7lb version"},
		{[]string{"version", "serve"}, `l7lb version: unexpected argument "serve"`, "l7lb version"},

		{[]string{"help", "--all"}, "l7lb help: unknown flag --all", "l7lb help"},
		{[]string{"help", "serve", "check"}, `l7lb help: unexpected argument "check"`, "l7lb help"},
		{[]string{"help", "nosuch"}, `l7lb help: unknown command "nosuch"`, "l7lb"}, // the list of commands helps
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdin, unread := unreadStdin(t)
			out, errOut, code := runL7lbStdin(t, stdin, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			first, rest, _ := strings.Cut(errOut, "\n")
			if first != tc.first {
				t.Errorf("stderr's first line\n got %q\nwant %q", first, tc.first)
			}
			if want := usageOf(t, tc.usage); rest != want {
				t.Errorf("after the error, stderr is\n%s\nwant the usage of %s:\n%s", rest, tc.usage, want)
			}
			if !unread() {
				t.Error("the command read its standard input")
			}
		})
	}
}

// usageOf returns what `l7lb help ...` prints for the command path.
func usageOf(t *testing.T, path string) string {
	t.Helper()
	args := append([]string{"help"}, strings.Fields(path)[1:]...)
	out, errOut, code := runL7lb(t, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("l7lb %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

// TestHelp checks the three ways of asking for a command's usage: each
// prints the same text on stdout, nothing on stderr, exit 0; the usage has
// the command's synopsis and every flag with its default.
func TestHelp(t *testing.T) {
	for path, line := range usageLines {
		name := strings.TrimPrefix(strings.TrimPrefix(path, "l7lb"), " ")
		t.Run(path, func(t *testing.T) {
			var asks [][]string
			if name == "" {
				asks = [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}, {"--config", "testdata/good.yaml", "-h"}}
			} else {
				asks = [][]string{{"help", name}, {name, "--help"}, {name, "-h"}}
			}
			var first string
			for i, args := range asks {
				stdin, unread := unreadStdin(t)
				out, errOut, code := runL7lbStdin(t, stdin, args...)
				if code != 0 || errOut != "" {
					t.Errorf("l7lb %s: exit %d, stderr %q; want 0 and nothing", strings.Join(args, " "), code, errOut)
				}
				if !unread() {
					t.Errorf("l7lb %s read its standard input", strings.Join(args, " "))
				}
				if i == 0 {
					first = out
				} else if out != first {
					t.Errorf("l7lb %s prints\n%s\nbut l7lb %s prints\n%s", strings.Join(args, " "), out, strings.Join(asks[0], " "), first)
				}
			}
			if got, _, _ := strings.Cut(first, "\n"); got != line {
				t.Errorf("usage line %q, want %q", got, line)
			}
			for _, want := range usageFlags[path] {
				if !strings.Contains(first, want) {
					t.Errorf("usage lacks %q:\n%s", want, first)
				}
			}
		})
	}

	// l7lb's own usage lists every command, and the exit statuses.
	out, _, _ := runL7lb(t, "help")
	for path := range usageLines {
		if name, ok := strings.CutPrefix(path, "l7lb "); ok && !strings.Contains(out, "\n  "+name+" ") {
			t.Errorf("l7lb help does not list %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "0 success, 1 a runtime failure, 2 a usage or configuration") {
		t.Errorf("l7lb help does not give the exit statuses:\n%s", out)
	}
}

// TestValidUse runs each command that exits by itself as it is meant to be
// used, flags before or after the arguments; none reads a standard input it
// was not told to read.
func TestValidUse(t *testing.T) {
	nodeIn := `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb","s1","s2","s3"]}}
{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":2,"path":"/api/x"}}
`
	// The configuration's api route strips /api and starts round robin
	// over [s1, s3] at s1.
	nodeOut := `{"src":"lb","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}
{"src":"lb","dest":"c1","body":{"type":"http_response","in_reply_to":2,"msg_id":1,"path":"/api/x","rewritten_path":"/x","routed_to":"s1","status":200}}
`
	t.Run("node", func(t *testing.T) {
		for _, args := range [][]string{
			{"--config", "../testdata/config-file-yaml.config.yaml"},
			{"-config=../testdata/config-file-yaml.config.yaml"},
		} {
			out, errOut, code := runL7lbStdin(t, strings.NewReader(nodeIn), args...)
			if code != 0 || out != nodeOut {
				t.Errorf("l7lb %s: exit %d, stdout\n%s(stderr %q)\nwant 0 and\n%s", strings.Join(args, " "), code, out, errOut, nodeOut)
			}
		}
	})

	// path only without a rewrite (README), keys sorted (jsonx).
	apiRoute := `{"rewritten_path":"/users","route":"api","routed_to":"s1","servers":["s1","s2"],"status":200,"sticky":"issued"}` + "\n"
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"check", "--config", "testdata/good.yaml"},
			"testdata/good.yaml: ok: 3 routes, 3 servers, listen 127.0.0.1:18080, sticky insert\n"},
		{[]string{"check", "-config=testdata/good.yaml"},
			"testdata/good.yaml: ok: 3 routes, 3 servers, listen 127.0.0.1:18080, sticky insert\n"},
		{[]string{"explain", "--config", "testdata/good.yaml", "GET", "/api/users"}, apiRoute},
		{[]string{"explain", "GET", "/api/users", "--config", "testdata/good.yaml"}, apiRoute},
		{[]string{"explain", "GET", "--config=testdata/good.yaml", "/api/users"}, apiRoute},
		{[]string{"explain", "--config", "testdata/good.yaml", "--", "GET", "/api/users"}, apiRoute},
		{[]string{"explain", "-H", "Host: shop.example.com", "--config", "testdata/good.yaml", "GET", "/"},
			`{"path":"/","route":"shop","routed_to":"s3","servers":["s3"],"status":200,"sticky":"issued"}` + "\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			stdin, unread := unreadStdin(t)
			out, errOut, code := runL7lbStdin(t, stdin, tc.args...)
			if code != 0 || out != tc.out {
				t.Errorf("exit %d, stdout %q (stderr %q)\nwant 0, %q", code, out, errOut, tc.out)
			}
			if !unread() {
				t.Error("the command read its standard input")
			}
		})
	}

	t.Run("version", func(t *testing.T) {
		stdin, unread := unreadStdin(t)
		out, errOut, code := runL7lbStdin(t, stdin, "version")
		if want := "l7lb " + goRecorded(t) + "\n"; code != 0 || out != want || errOut != "" {
			t.Errorf("exit %d, stdout %q, stderr %q\nwant 0, %q", code, out, errOut, want)
		}
		if !unread() {
			t.Error("version read its standard input")
		}
	})
}

// goRecorded returns the version line the binary should print, built from
// what `go version -m` reads from it, independently of its own code.
func goRecorded(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	version, revision, modified, race, patches := "", "unknown", "false", "false", "stock"
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Scan()
	_, goVersion, _ := strings.Cut(sc.Text(), ": ")
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), "\t")
		switch {
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) == 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			switch k {
			case "vcs.revision":
				revision = v
			case "vcs.modified":
				modified = v
			case "-race":
				race = v
			case "-ldflags":
				// The Makefile's stamp of the runtime patches (tools/runtimepatch).
				if _, p, ok := strings.Cut(v, "l7lb/buildinfo.runtimePatches="); ok {
					patches, _, _ = strings.Cut(strings.Trim(p, `"`), " ")
				}
			}
		}
	}
	if version == "" || goVersion == "" {
		t.Fatalf("go version -m printed no module version or Go version:\n%s", out)
	}
	if want := fmt.Sprint(raceEnabled); race != want {
		t.Fatalf("go version -m says -race=%s, but the test built the binary with race=%s", race, want)
	}
	return fmt.Sprintf("version=%s revision=%s modified=%s go=%s race=%s runtime=%s", version, revision, modified, goVersion, race, patches)
}

// TestConfigFromStdin checks --config - for the commands that read a
// configuration: the file comes from standard input and messages call it
// <stdin>.
func TestConfigFromStdin(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	t.Run("check", func(t *testing.T) {
		out, errOut, code := runL7lbStdin(t, strings.NewReader(read("testdata/good.yaml")), "check", "--config", "-")
		if want := "<stdin>: ok: 3 routes, 3 servers, listen 127.0.0.1:18080, sticky insert\n"; code != 0 || out != want {
			t.Errorf("exit %d, stdout %q (stderr %q); want 0, %q", code, out, errOut, want)
		}
	})
	t.Run("check, invalid", func(t *testing.T) {
		out, errOut, code := runL7lbStdin(t, strings.NewReader(read("testdata/bad-server.yaml")), "check", "--config", "-")
		if want := "<stdin>:9: routes[0].servers[1]: unknown server s9\n"; code != 2 || out != "" || errOut != want {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, %q", code, out, errOut, want)
		}
	})
	t.Run("check, JSON", func(t *testing.T) {
		_, errOut, code := runL7lbStdin(t, strings.NewReader(read("testdata/bad.json")), "check", "--config", "-")
		if want := "<stdin>:6: routes[0].rewrite: give exactly one of strip_prefix, replace_prefix, regex, replace_path\n"; code != 2 || errOut != want {
			t.Errorf("exit %d, stderr %q; want 2, %q", code, errOut, want)
		}
	})
	t.Run("explain", func(t *testing.T) {
		out, errOut, code := runL7lbStdin(t, strings.NewReader(read("testdata/good.yaml")), "explain", "--config", "-", "GET", "/api/users")
		var got map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got["route"] != "api" || got["routed_to"] != "s1" {
			t.Errorf("exit %d, stdout %q (stderr %q); want 0 and route api to s1", code, out, errOut)
		}
	})
	t.Run("serve", func(t *testing.T) {
		bs := newBackends(t, 1)
		var p *serveProc
		for attempt := 0; ; attempt++ {
			cfg := serversYAML(freePort(t), bs) + "default_servers: [s1]\n"
			var err error
			if p, err = launch(t, "-", serveOpts{stdin: strings.NewReader(cfg)}); err == nil {
				break
			} else if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("serve --config -: %v", err)
			}
		}
		if r := get(t, newClient(t, false), p.Addr, "", "/hello"); r.Status != 200 || r.Body != "s1" {
			t.Errorf("GET /hello through serve --config -: %d %q, want 200 from s1", r.Status, r.Body)
		}
	})
}

// TestServeBuild checks that serve's first log line is the build, as
// `l7lb version` prints it, and that the admin listener serves the same.
func TestServeBuild(t *testing.T) {
	out, _, _ := runL7lb(t, "version")
	build := strings.TrimSuffix(strings.TrimPrefix(out, "l7lb "), "\n")

	admin := freePort(t)
	p := startServe(t, newBackends(t, 1), fmt.Sprintf("admin: %q\ndefault_servers: [s1]\n", admin))
	if first, _, _ := strings.Cut(p.stderr.String(), "\n"); first != "l7lb: "+build {
		t.Errorf("serve's first log line %q, want %q", first, "l7lb: "+build)
	}

	c := newClient(t, false)
	fetch := func(path string) string {
		resp, err := c.Get("http://" + admin + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(body)
	}
	var stats struct{ Version string }
	if err := json.Unmarshal([]byte(fetch("/stats")), &stats); err != nil || stats.Version != build {
		t.Errorf("/stats version %q (%v), want %q", stats.Version, err, build)
	}
	// The gauge's labels say what the line says, each under its own name.
	fields := map[string]string{}
	for _, kv := range strings.Fields(build) {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	// (Prometheus writes label names in order.)
	gauge := fmt.Sprintf(`l7lb_build_info{goversion=%q,modified=%q,race=%q,revision=%q,runtime=%q,version=%q} 1`,
		fields["go"], fields["modified"], fields["race"], fields["revision"], fields["runtime"], fields["version"])
	if metrics := fetch("/metrics"); !strings.Contains(metrics, "\n"+gauge+"\n") {
		t.Errorf("/metrics lacks %s:\n%s", gauge, metrics)
	}
}

// TestDemo runs `l7lb demo` on a free port, sends one request through it
// and stops it.
func TestDemo(t *testing.T) {
	cmd := exec.Command(bin, "demo", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0")
	cmd.Env = childEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testlog.Buffer{Limit: 1 << 20}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Its first line: "l7lb demo: the proxy is on http://ADDR with this
	// configuration:"; the rest is read before Wait, which closes the pipe.
	line := make(chan string, 1)
	caFile := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		out := bufio.NewReader(stdout)
		first, _ := out.ReadString('\n')
		line <- first
		for {
			l, err := out.ReadString('\n')
			if _, rest, ok := strings.Cut(l, "--cacert "); ok && len(caFile) == 0 {
				caFile <- strings.Fields(rest)[0]
			}
			if err != nil {
				break
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo exited with %v after SIGTERM; stderr:\n%s", err, stderr)
			}
		case <-time.After(stopTimeout):
			cmd.Process.Kill()
			t.Errorf("demo still running %v after SIGTERM; killed", stopTimeout)
		}
	})

	var addr, tlsURL string
	select {
	case first := <-line:
		rest, ok := strings.CutPrefix(first, "l7lb demo: the proxy is on http://")
		if addr, rest, _ = strings.Cut(rest, " and "); !ok || addr == "" {
			t.Fatalf("demo's first line %q names no address; stderr:\n%s", first, stderr)
		}
		tlsURL, _, _ = strings.Cut(rest, " ")
	case <-time.After(readyTimeout):
		t.Fatalf("demo not ready after %v; stderr:\n%s", readyTimeout, stderr)
	}
	if r := get(t, newClient(t, false), addr, "", "/u/42"); r.Status != 200 || !strings.HasPrefix(r.Body, "server=api1 GET /users/42 ") {
		t.Errorf("GET /u/42 through the demo: %d %q, want 200 from api1 with /users/42", r.Status, r.Body)
	}
	// HTTPS in HTTP/2, trusting the certificate the demo made and named.
	var ca string
	select {
	case ca = <-caFile:
	case <-time.After(readyTimeout):
		t.Fatal("the demo printed no --cacert line")
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}, Timeout: clientTO}
	resp, err := c.Get(tlsURL + "/api/x")
	if err != nil {
		t.Fatalf("GET %s/api/x: %v", tlsURL, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || !strings.Contains(string(body), "X-Forwarded-Proto: https") {
		t.Errorf("GET %s/api/x: %s %d %q", tlsURL, resp.Proto, resp.StatusCode, body)
	}
}
