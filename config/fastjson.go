package config

import (
	"encoding/json"
	"unicode/utf8"

	"l7lb/jsonx"
	"l7lb/strview"
)

// fastJSON parses a JSON document into the same Value ParseJSON's
// decoder-driven parser makes (same lines, same repeated-key errors, same
// limits), several times faster: configurations of many thousands of
// routes are megabytes of JSON. It handles valid documents only: on
// anything it does not accept (a syntax error, a limit reached) it returns
// ok false, and ParseJSON parses the document again the slow way, whose
// error says what is wrong.
type fastJSON struct {
	data  []byte
	pos   int
	line  int // the line of data[pos]
	t     *tree
	steps []step // the field path of the value being parsed
}

func parseJSONFast(data []byte) (v *Value, err error, ok bool) {
	p := fastJSON{data: data, line: 1, t: newTree(data)}
	p.space()
	v, ok = p.value(0)
	if !ok {
		return nil, nil, false
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, nil, false
	}
	v, err = p.t.result(v)
	return v, err, true
}

// space skips JSON whitespace, counting lines.
func (p *fastJSON) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\n':
			p.line++
		case ' ', '\t', '\r':
		default:
			return
		}
		p.pos++
	}
}

// step is one step of the field path of the value being parsed: a key, or
// the index of a list element. The path is made into a string (as Join
// and Index make it) only for a repeated key: most documents have none,
// and making every path would cost more than the rest of the parse.
type step struct {
	key     string
	index   int
	element bool
}

// path is the field path of the container whose steps are p.steps[:n].
func (p *fastJSON) path(n int) string {
	s := ""
	for _, st := range p.steps[:n] {
		if st.element {
			s = Index(s, st.index)
		} else {
			s = Join(s, st.key)
		}
	}
	return s
}

func (p *fastJSON) value(depth int) (*Value, bool) {
	if p.pos >= len(p.data) {
		return nil, false
	}
	line := p.line
	switch c := p.data[p.pos]; {
	case c == '{':
		v, more, ok := p.open(Map, line, depth, '}')
		mark, n := p.t.open(Map), len(p.steps)
		for ok && more {
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return nil, false
			}
			keyLine := p.line
			key, good := p.str()
			if !good {
				return nil, false
			}
			p.space()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, false
			}
			p.pos++
			p.space()
			p.steps = append(p.steps, step{key: key})
			val, good := p.value(depth + 1)
			if !good {
				return nil, false
			}
			p.steps = p.steps[:n]
			p.t.add(mark, func() string { return p.path(n) }, key, keyLine, val)
			more, ok = p.next('}')
		}
		if !ok {
			return nil, false
		}
		p.t.close(v, mark)
		return v, true
	case c == '[':
		v, more, ok := p.open(List, line, depth, ']')
		mark, n := p.t.open(List), len(p.steps)
		for ok && more {
			p.steps = append(p.steps, step{index: len(p.t.elems) - mark, element: true})
			el, good := p.value(depth + 1)
			if !good {
				return nil, false
			}
			p.steps = p.steps[:n]
			p.t.elems = append(p.t.elems, el)
			more, ok = p.next(']')
		}
		if !ok {
			return nil, false
		}
		p.t.close(v, mark)
		return v, true
	case c == '"':
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		v, err := p.t.value(String, line, depth)
		if err != nil {
			return nil, false
		}
		v.Str = s
		return v, true
	case c == '-' || '0' <= c && c <= '9':
		n, ok := p.number()
		if !ok {
			return nil, false
		}
		v, err := p.t.value(Number, line, depth)
		if err != nil {
			return nil, false
		}
		v.Str = n
		return v, true
	}
	for _, lit := range [...]struct {
		text string
		kind Kind
		b    bool
	}{{"true", Bool, true}, {"false", Bool, false}, {"null", Null, false}} {
		if len(p.data)-p.pos >= len(lit.text) && string(p.data[p.pos:p.pos+len(lit.text)]) == lit.text {
			p.pos += len(lit.text)
			v, err := p.t.value(lit.kind, line, depth)
			if err != nil {
				return nil, false
			}
			v.Bool = lit.b
			return v, true
		}
	}
	return nil, false
}

// open starts a container of kind k at p.pos (its opening byte); more is
// false when it is empty, its end byte read.
func (p *fastJSON) open(k Kind, line, depth int, end byte) (v *Value, more, ok bool) {
	p.pos++
	v, err := p.t.value(k, line, depth)
	if err != nil {
		return nil, false, false
	}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == end {
		p.pos++
		return v, false, true
	}
	return v, true, true
}

// next reads what follows a container's member or element: a comma, more
// to come, or the container's end byte.
func (p *fastJSON) next(end byte) (more, ok bool) {
	p.space()
	if p.pos >= len(p.data) {
		return false, false
	}
	switch p.data[p.pos] {
	case ',':
		p.pos++
		p.space()
		return true, true
	case end:
		p.pos++
		return false, true
	}
	return false, false
}

// str reads a string at p.pos (its opening quote), scanned and unescaped
// by jsonx.
func (p *fastJSON) str() (string, bool) {
	end, err := jsonx.ValueEnd(p.data[p.pos:])
	if err != nil {
		return "", false
	}
	raw := p.data[p.pos : p.pos+end]
	p.pos += end
	s := jsonx.ValidString(raw)
	if !utf8.ValidString(s) {
		// jsonx keeps bad bytes as they are; encoding/json, and so the
		// slow parser, turns each into U+FFFD.
		var u string
		if json.Unmarshal(raw, &u) != nil {
			return "", false
		}
		return u, true
	}
	return p.t.str(s), true // the configuration outlives the file's bytes
}

// number reads a JSON number at p.pos, scanned by jsonx.
func (p *fastJSON) number() (string, bool) {
	end, err := jsonx.ValueEnd(p.data[p.pos:])
	if err != nil {
		return "", false
	}
	// A number runs into whatever follows but a delimiter or space: "1x"
	// or "01" is not one.
	if i := p.pos + end; i < len(p.data) {
		switch p.data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
		default:
			return "", false
		}
	}
	s := p.t.str(strview.Of(p.data[p.pos : p.pos+end]))
	p.pos += end
	return s, true
}
