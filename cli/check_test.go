package cli

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// runCheck runs `l7lb check --config file` and returns its exit status,
// stdout and the lines of its stderr.
func runCheck(t *testing.T, file string) (int, string, []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main([]string{"check", "--config", file}, strings.NewReader(""), &stdout, &stderr)
	var lines []string
	if s := strings.TrimRight(stderr.String(), "\n"); s != "" {
		lines = strings.Split(s, "\n")
	}
	return code, stdout.String(), lines
}

// TestCheckEveryErrorInLineOrder checks that check reports the engine's
// errors (unknown servers, patterns, rewrites) beside the decoder's, every
// one of them, sorted by line.
func TestCheckEveryErrorInLineOrder(t *testing.T) {
	_, reErr := regexp.Compile("(")
	const f = "testdata/all-errors.yaml"
	want := []string{
		f + ":6: routes[0].servers[1]: unknown server s9",
		f + ":7: routes[0].balance: unknown policy fastest (want round_robin, weighted_round_robin, hash, least_request or peak_ewma)",
		f + ":11: routes[1].rewrite.regex.pattern: " + reErr.Error(),
		f + ":13: routes[2].hosts[1]: wildcard only as the first label (*.example.com)",
		f + ":14: routes[2].path: must start with / or ~",
		f + ":15: routes[2].methods[1]: invalid method",
		f + ":17: timeouts.connect: want a duration such as 5s or 250ms",
		f + ":18: default_servers[0]: unknown server s8",
	}
	code, out, got := runCheck(t, f)
	if code != exitConfig || out != "" {
		t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, exitConfig)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckRepeatedKeys checks that a repeated key is an error with its
// line, never a panic (a repeated server id made reportPhantoms panic) nor
// a silent choice of one of the two.
func TestCheckRepeatedKeys(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"testdata/repeated-server.yaml", []string{
			"testdata/repeated-server.yaml:4: servers.s1: repeated key (first at line 3)",
		}},
		{"testdata/repeated-servers-key.yaml", []string{
			"testdata/repeated-servers-key.yaml:5: routes[0].servers[0]: unknown server s2",
			"testdata/repeated-servers-key.yaml:6: servers: repeated key (first at line 2)",
		}},
		{"testdata/repeated-top.json", []string{
			"testdata/repeated-top.json:4: listen: repeated key (first at line 2)",
		}},
	} {
		code, out, got := runCheck(t, tc.file)
		if code != exitConfig || out != "" || strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: exit %d, stdout %q, stderr:\n%s\nwant exit %d and:\n%s", tc.file, code, out,
				strings.Join(got, "\n"), exitConfig, strings.Join(tc.want, "\n"))
		}
	}
}

// TestListenAddresses checks the listen and admin addresses: a numeric
// port from 1 to 65535, and two listeners that would take the same
// address.
func TestListenAddresses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ listen, admin, want string }{
		{"127.0.0.1:8080", "", ""},
		{"127.0.0.1:8080", "127.0.0.1:9090", ""},
		{"127.0.0.1:8080", "127.0.0.2:8080", ""},
		{"[::1]:8080", "127.0.0.1:8080", ""},
		{"localhost:8080", "", ""},
		{":8080", "", ""},
		{"127.0.0.1:0", "", "listen: port must be from 1 to 65535"},
		{"127.0.0.1:65536", "", "listen: port must be from 1 to 65535"},
		{"127.0.0.1:http", "", "listen: want host:port with a numeric port"},
		{"127.0.0.1:-1", "", "listen: want host:port with a numeric port"},
		{"127.0.0.1", "", "listen: want host:port"},
		{"a b:80", "", "listen: invalid host"},
		{"127.0.0.1:8080", "127.0.0.1:0", "admin: port must be from 1 to 65535"},
		{"127.0.0.1:8080", "127.0.0.1:8080", "admin: the same address as listen (127.0.0.1:8080)"},
		{"127.0.0.1:8080", "127.0.0.1:08080", "admin: the same address as listen (127.0.0.1:8080)"},
		{"0.0.0.0:8080", "127.0.0.1:8080", "admin: overlaps listen (0.0.0.0:8080 takes port 8080 on every address)"},
		// An admin address without a host is loopback, not every address.
		{"127.0.0.1:8080", ":8080", "admin: the same address as listen (127.0.0.1:8080)"},
		{"127.0.0.2:8080", ":8080", ""},
		{":8080", ":8080", "admin: overlaps listen (:8080 takes port 8080 on every address)"},
		{"127.0.0.1:8080", "0.0.0.0:9090", "admin: 0.0.0.0:9090 is not a loopback address: set admin_token (or L7LB_ADMIN_TOKEN), since the admin API can change the whole configuration"},
		{"[::]:8080", "127.0.0.1:8080", "admin: overlaps listen ([::]:8080 takes port 8080 on every address)"},
	} {
		doc := "listen: \"" + tc.listen + "\"\nservers: {s1: http://127.0.0.1:9001}\n"
		if tc.admin != "" {
			doc += "admin: \"" + tc.admin + "\"\n"
		}
		file := filepath.Join(dir, "listen.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, got := runCheck(t, file)
		switch {
		case tc.want == "" && code != exitOK:
			t.Errorf("listen %q admin %q: exit %d, %q; want ok", tc.listen, tc.admin, code, got)
		case tc.want != "" && (code != exitConfig || len(got) != 1 || !strings.HasPrefix(got[0], file+":") || !strings.HasSuffix(got[0], ": "+tc.want)):
			t.Errorf("listen %q admin %q: exit %d, %q; want one error ending %q", tc.listen, tc.admin, code, got, tc.want)
		}
	}
}

// TestServePortInUse checks that a listen or admin address that is taken
// stops serve with an error naming the listener and its address.
func TestServePortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	dir := t.TempDir()
	for _, tc := range []struct{ listen, admin, want string }{
		{taken.Addr().String(), "", "l7lb: listen " + taken.Addr().String() + ": address already in use"},
		{freeAddr, taken.Addr().String(), "l7lb: admin " + taken.Addr().String() + ": address already in use"},
	} {
		doc := "listen: " + tc.listen + "\nservers: {s1: http://127.0.0.1:9001}\nsticky: {secret: s}\n"
		if tc.admin != "" {
			doc += "admin: " + tc.admin + "\n"
		}
		file := filepath.Join(dir, "serve.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := Main([]string{"serve", "--config", file}, strings.NewReader(""), &stdout, &stderr)
		if code != exitFailed || !slices.Contains(strings.Split(stderr.String(), "\n"), tc.want) {
			t.Errorf("exit %d, stderr:\n%s\nwant %d and the line %q", code, stderr.String(), exitFailed, tc.want)
		}
	}
}

// FuzzCheck runs check's whole configuration path (bytes, parse, decode,
// engine compile, shadowed-route warnings) on any input: it must never
// panic, and its errors must be one per line, each naming the file, in
// line order.
func FuzzCheck(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json", "../e2e/testdata/*.yaml", "../e2e/testdata/*.json"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("listen: 127.0.0.1:80\nservers: {a: http://a:1, b: {url: http://b:2, weight: 3}}\nroutes:\n  - {hosts: ['*.x'], path: '~^/a$', methods: [GET], headers: {X: y}, servers: [a, b], balance: hash, hash_on: 'cookie:c', weights: {a: 2}, rewrite: {regex: {pattern: '^/(.*)', replacement: /$1}}, sticky: true, host_rewrite: h, timeouts: {connect: 1s}, health_check: {path: /h}}\nsticky: {mode: always, cookie: c1, server_cookie: c2, max_sessions: 3, max_age: 1h, secure: true}\nadmin: ':9'\ntimeouts: {idle: 3}\nlimits: {max_headers: 9}\nhealth: {fails: 2}\ndefault_servers: []\n"))
	f.Add([]byte(`{"listen": ":1", "servers": {"a": "http://a"}, "routes": [{"servers": ["a"], "rewrite": {"replace_prefix": {"from": "/a", "to": "/b"}}}]}`))
	f.Add([]byte("a: &a [x, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := checkConfig("fuzz.yaml", data, &out)
		if err == nil {
			if !strings.Contains(out.String(), "fuzz.yaml: ok: ") {
				t.Fatalf("no error and no summary: %q", out.String())
			}
			return
		}
		if out.Len() != 0 {
			t.Fatalf("an error and output %q", out.String())
		}
		prev := 0
		for _, l := range strings.Split(err.Error(), "\n") {
			rest, ok := strings.CutPrefix(l, "fuzz.yaml")
			if !ok {
				t.Fatalf("error line %q does not name the file; error:\n%v", l, err)
			}
			if n, _, ok := strings.Cut(strings.TrimPrefix(rest, ":"), ":"); strings.HasPrefix(rest, ":") && ok {
				line, cerr := strconv.Atoi(n)
				if cerr != nil || line < prev {
					t.Fatalf("error line %q out of line order; error:\n%v", l, err)
				}
				prev = line
			}
		}
	})
}
