package balancer

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
)

// refHash is an independent implementation of the documented server hash,
// built on hash/fnv, to check the package's incremental one against.
func refHash(server, key string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(server + "\x00" + key))
	z := f.Sum64()
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// refPick is an independent implementation of the documented rendezvous
// choice, using math.Log.
func refPick(ss []Server, up func(Server) bool, key string) string {
	weighted := false
	for _, s := range ss {
		weighted = weighted || s.Weight != ss[0].Weight
	}
	best, bestScore := "-", math.Inf(-1)
	var bestHash uint64
	for _, s := range ss {
		if !up(s) {
			continue
		}
		h := refHash(s.Name, key)
		if !weighted {
			if best == "-" || h > bestHash {
				best, bestHash = s.Name, h
			}
			continue
		}
		u := (float64(h>>11) + 0.5) / math.Exp2(53)
		if score := -float64(s.Weight) / math.Log(u); best == "-" || score > bestScore {
			best, bestScore = s.Name, score
		}
	}
	return best
}

func keys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprintf("key-%d", i)
	}
	return k
}

// TestHashAnchors checks the building blocks against published values, so
// that the reference above is itself known to be right.
func TestHashAnchors(t *testing.T) {
	tests := []struct {
		name      string
		got, want uint64
	}{
		// The FNV-1a 64 offset basis is the hash of "", and "a" is the
		// first test vector of the FNV reference code.
		{"fnv empty", fnvOffset, 0xcbf29ce484222325},
		{"fnv a", fnvAddString(fnvOffset, "a"), 0xaf63dc4c8601ec8c},
		{"fnv a via byte", fnvAddByte(fnvOffset, 'a'), 0xaf63dc4c8601ec8c},
		// splitmix64 seeded with 0 returns mix(0x9e3779b97f4a7c15) first;
		// its published first output is 0xe220a8397b1dcdaf.
		{"splitmix64", mix(0x9e3779b97f4a7c15), 0xe220a8397b1dcdaf},
		{"mix 0", mix(0), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// TestHashKnownValues pins hashes and choices, computed with refHash and
// refPick, so that any change to the hash is caught.
func TestHashKnownValues(t *testing.T) {
	hashes := []struct {
		server, key string
		want        uint64
	}{
		{"s1", "alice", 0xbfeef1849d0bfa12},
		{"s2", "alice", 0xc5b358e27972e0fa},
		{"s3", "alice", 0x9e499aa4c02aa93b},
		{"s3", "/api/users", 0x0171000d631108a3},
		{"s1", "10.0.0.1", 0x0dc17768802721c2},
	}
	for _, tt := range hashes {
		if got := refHash(tt.server, tt.key); got != tt.want {
			t.Errorf("refHash(%q, %q) = %#016x, want %#016x", tt.server, tt.key, got, tt.want)
		}
		if got := mix(fnvAddString(fnvAddByte(fnvAddString(fnvOffset, tt.server), 0), tt.key)); got != tt.want {
			t.Errorf("hash of %q, %q = %#016x, want %#016x", tt.server, tt.key, got, tt.want)
		}
	}

	picks := []struct {
		key            string
		equal, weights string // winners among s1, s2, s3 with weights 1,1,1 and 1,2,3
	}{
		{"alice", "s2", "s2"},
		{"carol", "s1", "s2"},
		{"10.0.0.1", "s3", "s3"},
		{"user-11", "s1", "s3"},
		{"user-12", "s1", "s1"},
	}
	equal, weighted := NewPool(Hash, servers(1, 1, 1)), NewPool(Hash, servers(1, 2, 3))
	for _, tt := range picks {
		if got := name(equal.Pick(allUp, tt.key)); got != tt.equal {
			t.Errorf("equal weights: Pick(%q) = %s, want %s", tt.key, got, tt.equal)
		}
		if got := name(weighted.Pick(allUp, tt.key)); got != tt.weights {
			t.Errorf("weights 1,2,3: Pick(%q) = %s, want %s", tt.key, got, tt.weights)
		}
	}
}

// TestHashMatchesReference compares Pick with refPick over many keys, pool
// shapes and health states.
func TestHashMatchesReference(t *testing.T) {
	shapes := [][]int{{1}, {1, 1}, {1, 1, 1}, {1, 2, 3}, {5, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 2}}
	for _, weights := range shapes {
		ss := servers(weights...)
		p := NewPool(Hash, ss)
		for _, downIndex := range []int{-1, 10, 11} {
			h := down(downIndex)
			up := func(s Server) bool { return h.Up(s.Index) }
			for _, k := range keys(10000) {
				want := refPick(ss, up, k)
				if got := name(p.Pick(h, k)); got != want {
					t.Fatalf("weights %v, %d down: Pick(%q) = %s, want %s", weights, downIndex, k, got, want)
				}
			}
		}
	}
}

// TestHashMovesOnlyLostKeys checks rendezvous hashing's promise: when a
// server goes down or is removed, only the keys it had move.
func TestHashMovesOnlyLostKeys(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1, 1}, {1, 2, 3, 4}} {
		ss := servers(weights...)
		full := NewPool(Hash, ss)
		lost := ss[1]
		removed := NewPool(Hash, []Server{ss[0], ss[2], ss[3]})
		moved := 0
		for _, k := range keys(10000) {
			before, _ := full.Pick(allUp, k)
			whenDown, _ := full.Pick(down(lost.Index), k)
			afterRemoval, _ := removed.Pick(allUp, k)
			if whenDown != afterRemoval {
				t.Fatalf("weights %v, key %q: %s with %s down, %s with it removed",
					weights, k, name(whenDown, true), lost.Name, name(afterRemoval, true))
			}
			switch {
			case before == lost.Index:
				moved++
			case whenDown != before:
				t.Fatalf("weights %v, key %q moved from %s to %s when %s went down",
					weights, k, name(before, true), name(whenDown, true), lost.Name)
			}
		}
		if moved == 0 {
			t.Errorf("weights %v: %s had no keys", weights, lost.Name)
		}
	}
}

func TestHashDistribution(t *testing.T) {
	tests := []struct {
		weights []int
		keys    int
	}{
		{[]int{1, 1, 1}, 30000},
		{[]int{1, 2, 3}, 60000},
	}
	for _, tt := range tests {
		p := NewPool(Hash, servers(tt.weights...))
		counts := map[int]int{}
		for _, k := range keys(tt.keys) {
			i, _ := p.Pick(allUp, k)
			counts[i]++
		}
		total := 0
		for _, w := range tt.weights {
			total += w
		}
		for i, w := range tt.weights {
			want := float64(tt.keys * w / total)
			if got := float64(counts[10+i]); math.Abs(got-want) > 0.05*want {
				t.Errorf("weights %v: s%d has %v keys, want %v ± 5%%", tt.weights, i+1, got, want)
			}
		}
	}
}

// TestLn checks the portable logarithm against math.Log: within one unit
// in the last place (math.Log's own guarantee), over the whole range of u.
func TestLn(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inputs := []float64{1, 0.5, 0.75, math.Sqrt2 / 2, 0.5 / math.Exp2(53)}
	for range 100000 {
		inputs = append(inputs, (float64(r.Uint64()>>11)+0.5)/math.Exp2(53))
	}
	for _, x := range inputs {
		got, want := ln(x), math.Log(x)
		if ulp := math.Abs(math.Nextafter(want, 0) - want); math.Abs(got-want) > ulp {
			t.Fatalf("ln(%v) = %v, want %v", x, got, want)
		}
	}
}
