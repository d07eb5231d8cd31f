package proxy

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"l7lb/corpus"
)

// TestCorpora sends every case of the raw-request corpora (llhttp's request
// tests, smuggler's mutations; proxy/testdata/corpus, made by
// tools/corpora) to the proxy, one connection each, and checks the verdict:
// which requests reached the server and as what, or which status the proxy
// answered (corpus.Expect's rules, written down in the files). After each
// case a request on another connection must get its own answer: no case
// may leave anything behind for another client. The stray-CRLF interop
// cases must also be answered as HAProxy and nginx answer them.
func TestCorpora(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	b, err := corpus.StartBackend()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	e := setup(t, offSticky, map[string]string{"s1": b.Addr()})
	n := 0
	for _, name := range files {
		f, err := corpus.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(name), ".txt"), func(t *testing.T) {
			failed := 0
			for _, c := range f.Cases {
				n++
				got, err := b.Judge(e.addr, c.Raw, n)
				switch {
				case errors.Is(err, corpus.ErrDesync):
					t.Errorf("%s: %v\n  raw %q", c.ID, err, c.Raw)
				case err != nil:
					t.Fatalf("%s: %v", c.ID, err)
				case strings.HasPrefix(filepath.Base(name), "stray-crlf") && (c.HAProxy != c.Expect || c.Nginx != c.Expect):
					// The interop cases: l7lb answers as both peers do.
					t.Errorf("%s: expected %s, but HAProxy %s, nginx %s", c.ID, c.Expect, c.HAProxy, c.Nginx)
				case got != c.Expect:
					if failed++; failed <= 40 {
						t.Errorf("%s:\n  raw     %q\n  got     %s\n  want    %s\n  haproxy %s\n  nginx   %s", c.ID, c.Raw, got, c.Expect, c.HAProxy, c.Nginx)
					}
				}
			}
			if failed > 40 {
				t.Errorf("... %d cases in all differ", failed)
			}
		})
	}
}
