package router

import (
	"math/bits"
	"regexp/syntax"
)

// byteNFA answers whether a regular expression matches a whole string,
// without the regexp package's per-call and per-rune costs, for the
// expressions most path patterns are: ASCII literals and classes under
// concatenation, alternation and repetition. It is the position (Glushkov)
// automaton of the expression, run on bit sets: each position is one literal
// or class, and a byte takes the set of live positions to the positions
// that may follow one of them and accept the byte.
//
// A string with a byte outside ASCII matches no position, as a rune outside
// ASCII (or the U+FFFD an invalid byte reads as) matches none of the
// expression's literals and classes.
type byteNFA struct {
	first    uint64               // positions that can take the first byte
	last     uint64               // positions a match can end with
	nullable bool                 // whether "" matches
	follow   [maxPositions]uint64 // positions that can take the byte after each one
	accepts  [256]uint64          // positions that accept each byte
	n        int                  // positions in use
}

// maxPositions is the most positions a byteNFA has: one bit of a uint64 each.
const maxPositions = 64

// compileByteNFA returns the automaton of the expression expr as regexp
// compiles it, matched against a whole string, or nil when expr uses what
// the automaton does not handle: anything outside ASCII, case folding, '.',
// line and word assertions, ^ or $ anywhere but at the very start or end,
// or more than maxPositions literal bytes and classes once counted
// repetitions are spelled out.
func compileByteNFA(expr string) *byteNFA {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	// The match is anchored at both ends anyway: a leading \A and a
	// trailing \z say nothing more.
	if re.Op == syntax.OpConcat {
		subs := re.Sub
		if len(subs) > 0 && subs[0].Op == syntax.OpBeginText {
			subs = subs[1:]
		}
		if len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText {
			subs = subs[:len(subs)-1]
		}
		re = &syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
	}
	m := &byteNFA{}
	f, ok := m.build(re)
	if !ok {
		return nil
	}
	m.first, m.last, m.nullable = f.first, f.last, f.nullable
	return m
}

// fragment is what building a subexpression yields: the positions it can
// start and end with, and whether it matches "".
type fragment struct {
	first, last uint64
	nullable    bool
}

// build adds the positions of re to m and links those that follow each
// other inside it; ok is false when re is not supported.
func (m *byteNFA) build(re *syntax.Regexp) (f fragment, ok bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return fragment{}, true
	case syntax.OpEmptyMatch:
		return fragment{nullable: true}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return fragment{}, false
		}
		f = fragment{nullable: true}
		for _, r := range re.Rune {
			p, ok := m.position(r, r)
			if !ok {
				return fragment{}, false
			}
			f = m.concat(f, p)
		}
		return f, true
	case syntax.OpCharClass:
		p, ok := m.position(re.Rune...)
		return p, ok
	case syntax.OpCapture:
		return m.build(re.Sub[0])
	case syntax.OpConcat:
		f = fragment{nullable: true}
		for _, sub := range re.Sub {
			g, ok := m.build(sub)
			if !ok {
				return fragment{}, false
			}
			f = m.concat(f, g)
		}
		return f, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			g, ok := m.build(sub)
			if !ok {
				return fragment{}, false
			}
			f = fragment{f.first | g.first, f.last | g.last, f.nullable || g.nullable}
		}
		return f, true
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		f, ok = m.build(re.Sub[0])
		if !ok {
			return fragment{}, false
		}
		if re.Op != syntax.OpQuest {
			m.link(f.last, f.first)
		}
		f.nullable = f.nullable || re.Op != syntax.OpPlus
		return f, true
	}
	// Assertions, '.', and OpRepeat, which Simplify leaves only for
	// counts it cannot spell out.
	return fragment{}, false
}

// concat returns a followed by b, linking the ends of a to the starts of b.
func (m *byteNFA) concat(a, b fragment) fragment {
	m.link(a.last, b.first)
	f := fragment{first: a.first, last: b.last, nullable: a.nullable && b.nullable}
	if a.nullable {
		f.first |= b.first
	}
	if b.nullable {
		f.last |= a.last
	}
	return f
}

// link lets every position of to follow every position of from.
func (m *byteNFA) link(from, to uint64) {
	for ; from != 0; from &= from - 1 {
		m.follow[bits.TrailingZeros64(from)] |= to
	}
}

// position adds a position accepting the bytes of the ranges lo, hi, ...
// (all ASCII), as a fragment of its own.
func (m *byteNFA) position(ranges ...rune) (fragment, bool) {
	if m.n == maxPositions {
		return fragment{}, false
	}
	bit := uint64(1) << m.n
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi >= 0x80 {
			return fragment{}, false
		}
		for c := lo; c <= hi; c++ {
			m.accepts[c] |= bit
		}
	}
	m.n++
	return fragment{first: bit, last: bit}, true
}

// match reports whether the expression matches the whole of s.
func (m *byteNFA) match(s string) bool {
	if s == "" {
		return m.nullable
	}
	live := m.first & m.accepts[s[0]]
	for i := 1; i < len(s) && live != 0; i++ {
		var next uint64
		for l := live; l != 0; l &= l - 1 {
			next |= m.follow[bits.TrailingZeros64(l)]
		}
		live = next & m.accepts[s[i]]
	}
	return live&m.last != 0
}
