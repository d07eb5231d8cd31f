package router

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// checkByteNFA checks that the automaton of expr, if it has one, agrees with
// the regexp package on s, and reports whether it has one.
func checkByteNFA(t *testing.T, expr, s string) bool {
	t.Helper()
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return false
	}
	m := compileByteNFA(expr)
	if m == nil {
		return false
	}
	if got, want := m.match(s), re.MatchString(s); got != want {
		t.Fatalf("expression %q on %q: automaton says %v, regexp %v", expr, s, got, want)
	}
	return true
}

func TestByteNFA(t *testing.T) {
	tests := []struct {
		expr      string
		supported bool
		match     []string
		noMatch   []string
	}{
		{`^/blog/[0-9]{4}/[a-z0-9-]+$`, true,
			[]string{"/blog/2024/post-1", "/blog/0000/x"},
			[]string{"/blog/2024/", "/blog/202/x", "/blog/2024/Post", "/blog/2024/x/", "/blog/2024/é", "x/blog/2024/x"}},
		{`/u/([0-9]+)`, true, []string{"/u/1", "/u/123"}, []string{"/u/", "/u/1a", "/u/1/"}},
		{`/a(/b)*|/c?`, true, []string{"/a", "/a/b/b", "/", "/c"}, []string{"/a/", "/cc", ""}},
		{`(a|)`, true, []string{"", "a"}, []string{"aa"}},
		{`a{2,3}b?`, true, []string{"aa", "aaab"}, []string{"a", "aaaa", "b"}},
		{`\d+\.\w*\s?`, true, []string{"1.", "12.ab_ "}, []string{".", "1a"}},
		{`[^\x00-\x{10FFFF}]`, true, nil, []string{"", "a", "é"}},
		{`^$`, true, []string{""}, []string{"a"}},
		{`(?:a|b)+$`, true, []string{"abba"}, []string{"abc"}},
		// What it leaves to the regexp package.
		{`/.*`, false, nil, nil},
		{`/[^/]+`, false, nil, nil},
		{`(?i)/a`, false, nil, nil},
		{`/é`, false, nil, nil},
		{`/a^`, false, nil, nil},
		{`$/a`, false, nil, nil},
		{`(?m)^/a$`, false, nil, nil},
		{`\b/a`, false, nil, nil},
		{`[a-z]{65}`, false, nil, nil},
		{`[a-z]{64}`, true, nil, []string{"a"}},
	}
	for _, tt := range tests {
		if got := compileByteNFA(tt.expr) != nil; got != tt.supported {
			t.Errorf("%q: supported = %v, want %v", tt.expr, got, tt.supported)
			continue
		}
		re := regexp.MustCompile(`^(?:` + tt.expr + `)$`)
		for _, s := range tt.match {
			if !re.MatchString(s) {
				t.Fatalf("%q: test case %q does not match", tt.expr, s)
			}
			checkByteNFA(t, tt.expr, s)
		}
		for _, s := range tt.noMatch {
			if re.MatchString(s) {
				t.Fatalf("%q: test case %q matches", tt.expr, s)
			}
			checkByteNFA(t, tt.expr, s)
		}
	}
}

// TestByteNFARandom compares the automaton with the regexp package on
// random expressions and strings over a small alphabet.
func TestByteNFARandom(t *testing.T) {
	atoms := []string{"a", "b", "/", "[ab]", "[0-9]", "(a|b/)", "()", "(a*b)", "[^\\x00-\\x{10FFFF}]"}
	ops := []string{"", "", "*", "+", "?", "{2}", "{1,3}", "{0,2}"}
	rng := rand.New(rand.NewPCG(3, 4))
	supported := 0
	for range 2000 {
		expr := ""
		if rng.IntN(4) == 0 {
			expr = "^"
		}
		for range 1 + rng.IntN(5) {
			expr += atoms[rng.IntN(len(atoms))] + ops[rng.IntN(len(ops))]
			if rng.IntN(6) == 0 {
				expr += "|"
			}
		}
		if rng.IntN(4) == 0 {
			expr += "$"
		}
		for range 50 {
			b := make([]byte, rng.IntN(8))
			for i := range b {
				b[i] = "ab/0x\xc3"[rng.IntN(6)]
			}
			if checkByteNFA(t, expr, string(b)) {
				supported++
			}
		}
	}
	if supported == 0 {
		t.Fatal("no random expression had an automaton")
	}
}

func FuzzByteNFA(f *testing.F) {
	f.Add(`^/blog/[0-9]{4}/[a-z0-9-]+$`, "/blog/2024/post-1")
	f.Add(`/u/([0-9]+)`, "/u/12")
	f.Add(`(a|b*)+c?`, "abbc")
	f.Add(`^$`, "")
	f.Fuzz(func(t *testing.T, expr, s string) {
		checkByteNFA(t, expr, s)
	})
}
