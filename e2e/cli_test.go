package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// runL7lb runs the binary with args (in the package directory, so that
// testdata/ paths are relative) and returns its stdout, stderr and exit
// status.
func runL7lb(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runL7lbStdin(t, nil, args...)
}

// runL7lbStdin is runL7lb with stdin as the binary's standard input; a
// binary that has not exited after 10 seconds fails the test.
func runL7lbStdin(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return stdout.String(), stderr.String(), exit.ExitCode()
	default:
		t.Fatalf("l7lb %s: %v", strings.Join(args, " "), err)
		return "", "", -1
	}
}

// TestCheck checks `l7lb check`: exit 0 with a summary, warnings for
// routes that can never match, and exit 2 with every error as
// FILE:LINE: field: message.
func TestCheck(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		out, errOut, code := runL7lb(t, "check", "--config", "testdata/good.yaml")
		want := "testdata/good.yaml: ok: 3 routes, 3 servers, listen 127.0.0.1:18080, sticky insert\n"
		if code != 0 || out != want {
			t.Errorf("exit %d, stdout %q (stderr %q); want 0, %q", code, out, errOut, want)
		}
	})

	t.Run("shadowed route", func(t *testing.T) {
		out, _, code := runL7lb(t, "check", "--config", "testdata/shadowed.yaml")
		warn := "testdata/shadowed.yaml: warning: route api-get can never match: route api matches every request it does and comes first\n"
		if code != 0 || !strings.Contains(out, warn) || !strings.Contains(out, ": ok: 3 routes") {
			t.Errorf("exit %d, stdout %q; want 0 with the warning %q and the summary", code, out, warn)
		}
		if strings.Count(out, "warning:") != 1 {
			t.Errorf("stdout %q: want exactly one warning (other does not overlap)", out)
		}
	})

	for _, tc := range []struct {
		file  string
		lines []string // each must be a line of stderr
	}{
		{"testdata/bad-fields.yaml", []string{
			"testdata/bad-fields.yaml:5: servers.s2: want an http://, https:// or h2c:// URL",
			"testdata/bad-fields.yaml:10: routes[0].balance: unknown policy fastest (want round_robin, weighted_round_robin, hash, least_request or peak_ewma)",
			"testdata/bad-fields.yaml:12: timeouts.connect: want a duration such as 5s or 250ms",
			"testdata/bad-fields.yaml:14: outliers.max_ejection_percent: must be from 0 to 100",
		}},
		{"testdata/bad-server.yaml", []string{
			"testdata/bad-server.yaml:9: routes[0].servers[1]: unknown server s9",
		}},
		{"testdata/bad.json", []string{
			"testdata/bad.json:6: routes[0].rewrite: give exactly one of strip_prefix, replace_prefix, regex, replace_path",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errOut, code := runL7lb(t, "check", "--config", tc.file)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Contains(out, "ok:") {
				t.Errorf("stdout %q claims the file is fine", out)
			}
			got := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			for _, l := range tc.lines {
				if !slices.Contains(got, l) {
					t.Errorf("stderr lacks the line %q; stderr:\n%s", l, errOut)
				}
			}
		})
	}

	t.Run("no config", func(t *testing.T) {
		if _, _, code := runL7lb(t, "check"); code != 2 {
			t.Errorf("check without --config: exit %d, want 2", code)
		}
		if _, errOut, code := runL7lb(t, "check", "--config", "testdata/absent.yaml"); code != 2 || !strings.Contains(errOut, "absent.yaml") {
			t.Errorf("check of a missing file: exit %d, stderr %q; want 2 naming the file", code, errOut)
		}
	})
}

// TestExplain checks that `l7lb explain` prints the decision as JSON.
func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want map[string]any
	}{
		{
			name: "rewrite and insert-mode sticky",
			args: []string{"GET", "/api/users?id=7&x=%2F"},
			want: map[string]any{"status": 200.0, "route": "api", "servers": []any{"s1", "s2"}, "routed_to": "s1",
				"rewritten_path": "/users?id=7&x=%2F", "sticky": "issued"},
		},
		{
			name: "host from a -H header",
			args: []string{"-H", "Host: shop.example.com", "GET", "/api/users"},
			want: map[string]any{"status": 200.0, "route": "shop", "servers": []any{"s3"}, "routed_to": "s3",
				"path": "/api/users", "sticky": "issued"},
		},
		{
			name: "host from an absolute URL",
			args: []string{"POST", "http://SHOP.example.com:8080/cart"},
			want: map[string]any{"status": 200.0, "route": "shop", "servers": []any{"s3"}, "routed_to": "s3",
				"path": "/cart", "sticky": "issued"},
		},
		{
			// s2 has weight 2 (servers map): at the default RTT (30ms) and
			// nothing in flight it costs 15 against s1's 30. The inputs of
			// the choice are shown; explain runs outside the proxy, so
			// nothing is in flight.
			name: "load-aware route",
			args: []string{"GET", "/fast/x"},
			want: map[string]any{"status": 200.0, "route": "fast", "servers": []any{"s1", "s2"}, "routed_to": "s2",
				"path": "/fast/x", "sticky": "issued", "load": map[string]any{
					"s1": map[string]any{"in_flight": 0.0, "ewma_ms": 30.0},
					"s2": map[string]any{"in_flight": 0.0, "ewma_ms": 30.0},
				}},
		},
		{
			name: "no route",
			args: []string{"GET", "/nothing"},
			want: map[string]any{"status": 404.0, "error": "no route", "sticky": "none"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"explain", "--config", "testdata/good.yaml"}, tc.args...)
			out, errOut, code := runL7lb(t, args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr %q", code, errOut)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("stdout %q: want one line of JSON", out)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout %q is not a JSON object: %v", out, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("explain %s:\n got %v\nwant %v", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}

	if _, _, code := runL7lb(t, "explain", "--config", "testdata/good.yaml", "GET"); code != 2 {
		t.Errorf("explain without a URL: exit %d, want 2", code)
	}
}
