package cli

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"l7lb/engine"
	"l7lb/tools/routeset"
)

// writeRoutes writes a node configuration of n routes in issue 13's mix.
func writeRoutes(tb testing.TB, n int) string {
	name := filepath.Join(tb.TempDir(), "routes.json")
	if err := os.WriteFile(name, routeset.Generate(n, 0).AppendJSON(nil, false), 0o644); err != nil {
		tb.Fatal(err)
	}
	return name
}

// BenchmarkLoadRoutes is the node's start with --config: the file read,
// parsed, decoded and compiled, then compiled again for init's servers.
// allocs/route is the figure to keep down: the whole load is dominated
// by the allocator and the collector at 100,000 routes.
func BenchmarkLoadRoutes(b *testing.B) {
	servers := make([]string, routeset.NumServers)
	for i := range servers {
		servers[i] = routeset.Server(i)
	}
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			name := writeRoutes(b, n)
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				eng := engine.New(nil)
				if err := loadNodeConfig(eng, name); err != nil {
					b.Fatal(err)
				}
				eng.Init("lb", servers)
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N)/float64(n), "allocs/route")
		})
	}
}

// TestNodeConfigLocated checks that the node's load, which does not keep
// the parsed file, still locates a problem only the engine finds (a regex
// that does not compile) and one the decoder finds, each at FILE:LINE.
func TestNodeConfigLocated(t *testing.T) {
	name := filepath.Join(t.TempDir(), "bad.json")
	doc := "{\"routes\": [\n{\"path\": \"/a/*\", \"servers\": [\"s1\"]},\n{\"path\": \"~^/(\", \"servers\": [\"s1\"]}\n]}\n"
	if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := Main([]string{"--config", name}, strings.NewReader(""), io.Discard, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d", code, exitConfig)
	}
	if want := name + ":3: routes[1].path: "; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("engine error %q, want it to start with %q", stderr.String(), want)
	}
	doc = "{\"routes\": [\n{\"path\": \"/a/*\",\n\"servers\": 7}\n]}\n"
	if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if code := Main([]string{"--config", name}, strings.NewReader(""), io.Discard, &stderr); code != exitConfig {
		t.Fatalf("exit %d, want %d", code, exitConfig)
	}
	if want := name + ":3: routes[0].servers: "; !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("decoder error %q, want it to start with %q", stderr.String(), want)
	}
}
