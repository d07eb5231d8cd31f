package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"l7lb/strview"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of Value.
const (
	Null Kind = iota
	Bool
	Number
	String
	List
	Map
)

func (k Kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "an object"}[k]
}

// Value is a parsed JSON or YAML document: one tree shape for both syntaxes,
// so that one decoder validates both and reports the same field paths.
// Line is the 1-based source line, or 0 when unknown.
type Value struct {
	Kind Kind
	Bool bool
	Line int
	Str  string // String, and the literal text of a Number
	// The members of a List or a Map, out of line: most values are
	// scalars, and a Value is 40 bytes rather than 136. A Value not made
	// by a parser or NewMap has none: read them after checking Kind.
	*Members
}

// Members are what a List or a Map holds; scalars share an empty one.
type Members struct {
	List     []*Value // List elements
	Keys     []string // Map keys in source order, each once
	KeyLines []int    // Map: the line of each key, parallel to Keys
	Vals     []*Value // Map values, parallel to Keys
}

// noMembers are a scalar's: never written to.
var noMembers = &Members{}

// NewMap returns an empty Map at line, for a caller to fill.
func NewMap(line int) *Value {
	return &Value{Kind: Map, Line: line, Members: &Members{}}
}

// Get returns the value of key in a Map, or nil.
func (v *Value) Get(key string) *Value {
	if v.Kind != Map {
		return nil
	}
	for i, k := range v.Keys {
		if k == key {
			return v.Vals[i]
		}
	}
	return nil
}

// Limits of a parsed document. No configuration comes near them; they keep
// a hostile or broken file from exhausting the stack or the memory.
const (
	// maxDepth bounds the nesting of lists and objects (YAML aliases
	// included), so that the recursive parsers cannot overflow the stack.
	maxDepth = 64
	// valuesPerByte bounds the values a document may expand to (YAML
	// aliases repeat a value without repeating its bytes: "billion laughs").
	valuesPerByte = 8
)

// SyntaxError is a document that is not valid JSON or YAML, or that
// exceeds the parser's limits. Line is 0 when unknown.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// tree collects what the parsers share: the budget of values and depth,
// the repeated keys found, which are errors that do not stop parsing, and
// the allocation of values, their members and their strings, many at a
// time: a configuration of 100,000 routes is a million values.
type tree struct {
	values   int // values left to make
	repeated Errors
	// A container being parsed holds its members on these stacks from
	// its mark on (see open); close moves them to slices of their exact
	// size, so that no member slice grows by appends.
	keys  []string
	lines []int
	vals  []*Value // Map values
	elems []*Value // List elements
	// index indexes the keys of the maps being parsed that have grown
	// past a few keys, by their mark, so that finding repeated keys stays
	// linear in the size of the document.
	index map[int]map[string]int
	// Slabs that values, members and member slices are cut from.
	slab       []Value
	memberSlab []Members
	keySlab    []string
	lineSlab   []int
	valSlab    []*Value
	// Strings are copied out of the document, which they must not pin,
	// into chunks of bytes; the frequent ones (keys, server ids, common
	// paths) once, by a table of at most maxInterned.
	chunk    []byte
	interned map[string]string
}

// maxInterned bounds the interning table of a parse; strings are
// interned first come, and documents repeat theirs from the start.
const maxInterned = 4096

func newTree(data []byte) *tree {
	return &tree{values: valuesPerByte*len(data) + 1024}
}

// value makes a value of kind k at line, within the budget.
func (t *tree) value(k Kind, line, depth int) (*Value, error) {
	if depth > maxDepth {
		return nil, &SyntaxError{Line: line, Msg: fmt.Sprintf("nested deeper than %d levels", maxDepth)}
	}
	if t.values--; t.values < 0 {
		return nil, &SyntaxError{Line: line, Msg: "the document expands to too many values (YAML aliases?)"}
	}
	if len(t.slab) == 0 {
		t.slab = make([]Value, min(256, t.values+1))
	}
	v := &t.slab[0]
	t.slab = t.slab[1:]
	v.Kind, v.Line, v.Members = k, line, noMembers
	if k == List || k == Map {
		if len(t.memberSlab) == 0 {
			t.memberSlab = make([]Members, 64)
		}
		v.Members = &t.memberSlab[0]
		t.memberSlab = t.memberSlab[1:]
	}
	return v, nil
}

// open returns the mark of a container about to be filled: where its
// members start on the stacks (Map: keys, List: elems).
func (t *tree) open(k Kind) int {
	if k == Map {
		return len(t.keys)
	}
	return len(t.elems)
}

// add adds key (at line keyLine) and val to the map opened at mark. A key
// the map holds already is recorded as an error and dropped (the first
// stays); path, the map's field path, is asked for only then.
func (t *tree) add(mark int, path func() string, key string, keyLine int, val *Value) {
	if i := t.find(mark, key); i >= 0 {
		t.repeated = append(t.repeated, &FieldError{Path: Join(path(), key), Line: keyLine,
			Msg: fmt.Sprintf("repeated key (first at line %d)", t.lines[mark+i])})
		return
	}
	if idx := t.index[mark]; idx != nil {
		idx[key] = len(t.keys) - mark
	}
	t.keys = append(t.keys, key)
	t.lines = append(t.lines, keyLine)
	t.vals = append(t.vals, val)
}

// find returns the index of key in the map opened at mark, or -1.
func (t *tree) find(mark int, key string) int {
	const scan = 16 // keys looked up by a scan; beyond, by an index
	keys := t.keys[mark:]
	if len(keys) <= scan {
		for i, k := range keys {
			if k == key {
				return i
			}
		}
		return -1
	}
	idx := t.index[mark]
	if idx == nil {
		if t.index == nil {
			t.index = map[int]map[string]int{}
		}
		idx = make(map[string]int, 2*len(keys))
		for i, k := range keys {
			idx[k] = i
		}
		t.index[mark] = idx
	}
	if i, ok := idx[key]; ok {
		return i
	}
	return -1
}

// close gives the container v opened at mark its members, off the stacks.
func (t *tree) close(v *Value, mark int) {
	if v.Kind == List {
		v.List = cut(&t.valSlab, t.elems[mark:])
		clear(t.elems[mark:]) // the stack must not keep the values alive
		t.elems = t.elems[:mark]
		return
	}
	v.Keys = cut(&t.keySlab, t.keys[mark:])
	v.KeyLines = cut(&t.lineSlab, t.lines[mark:])
	v.Vals = cut(&t.valSlab, t.vals[mark:])
	clear(t.vals[mark:])
	t.keys, t.lines, t.vals = t.keys[:mark], t.lines[:mark], t.vals[:mark]
	delete(t.index, mark)
}

// cut copies src to a slice of its exact length and capacity (an append
// to it copies), cut from *slab.
func cut[T any](slab *[]T, src []T) []T {
	if len(src) == 0 {
		return nil
	}
	if len(*slab) < len(src) {
		*slab = make([]T, max(len(src), 512))
	}
	out := (*slab)[:len(src):len(src)]
	*slab = (*slab)[len(src):]
	copy(out, src)
	return out
}

// str returns s as a string of the tree's own: s may be a view of the
// document's bytes, which the configuration must not pin.
func (t *tree) str(s string) string {
	if len(s) == 0 {
		return ""
	}
	if c, ok := t.interned[s]; ok {
		return c
	}
	const chunkSize = 16 << 10
	if len(s) > chunkSize/8 {
		return strings.Clone(s)
	}
	if cap(t.chunk)-len(t.chunk) < len(s) {
		t.chunk = make([]byte, 0, chunkSize)
	}
	// The chunk's bytes are written once, then only read: views of them
	// stay valid (see strview).
	off := len(t.chunk)
	t.chunk = append(t.chunk, s...)
	c := strview.Of(t.chunk[off:])
	if len(t.interned) < maxInterned {
		if t.interned == nil {
			t.interned = make(map[string]string, 256)
		}
		t.interned[c] = c
	}
	return c
}

// result returns v and the repeated keys as an Errors, if any. The tree is
// whole either way: it holds the first of each repeated key.
func (t *tree) result(v *Value) (*Value, error) {
	return v, t.repeated.Err()
}

// ParseJSON parses one JSON document into a Value, with line numbers. A
// syntax error is a *SyntaxError and no Value; repeated keys are Errors
// with the Value.
func ParseJSON(data []byte) (*Value, error) {
	if v, err, ok := parseJSONFast(data); ok {
		return v, err
	}
	return parseJSONSlow(data)
}

// parseJSONSlow is ParseJSON by encoding/json's tokens: the reference
// for parseJSONFast, and what says what is wrong with a document the
// fast parser does not accept.
func parseJSONSlow(data []byte) (*Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonParser{dec: dec, data: data, t: newTree(data)}
	v, err := p.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &SyntaxError{Line: p.line(), Msg: "data after the JSON document"}
	}
	return p.t.result(v)
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
	t    *tree
	// The line at offset off: offsets only grow, so each line() counts
	// the newlines since the last, and the whole parse is linear.
	off, lineAtOff int
}

// line is the line of the decoder's current input offset.
func (p *jsonParser) line() int {
	return p.lineAt(p.dec.InputOffset())
}

func (p *jsonParser) lineAt(off64 int64) int {
	off := min(max(int(off64), 0), len(p.data))
	if off < p.off {
		return bytes.Count(p.data[:off], []byte{'\n'}) + 1
	}
	p.lineAtOff += bytes.Count(p.data[p.off:off], []byte{'\n'})
	p.off = off
	return p.lineAtOff + 1
}

// fail turns a decoder error into a SyntaxError with its line.
func (p *jsonParser) fail(err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{Line: p.lineAt(se.Offset), Msg: err.Error()}
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return &SyntaxError{Line: p.line(), Msg: "unexpected end of the document"}
	}
	return &SyntaxError{Line: p.line(), Msg: err.Error()}
}

func (p *jsonParser) value(path string, depth int) (*Value, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if err == io.EOF && depth == 0 {
			return nil, &SyntaxError{Msg: "empty document"}
		}
		return nil, p.fail(err)
	}
	// The token ends at the decoder's offset, on the line of its last
	// byte: strings hold no raw newline, so that is the token's own line.
	line := p.line()
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v, err := p.t.value(Map, line, depth)
			if err != nil {
				return nil, err
			}
			mark := p.t.open(Map)
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, p.fail(err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, &SyntaxError{Line: p.line(), Msg: "an object key must be a string"}
				}
				keyLine := p.line()
				val, err := p.value(Join(path, key), depth+1)
				if err != nil {
					return nil, err
				}
				p.t.add(mark, func() string { return path }, key, keyLine, val)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
			p.t.close(v, mark)
			return v, nil
		case '[':
			v, err := p.t.value(List, line, depth)
			if err != nil {
				return nil, err
			}
			mark := p.t.open(List)
			for p.dec.More() {
				el, err := p.value(Index(path, len(p.t.elems)-mark), depth+1)
				if err != nil {
					return nil, err
				}
				p.t.elems = append(p.t.elems, el)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
			p.t.close(v, mark)
			return v, nil
		}
		return nil, &SyntaxError{Line: line, Msg: fmt.Sprintf("unexpected %v", t)}
	}
	var k Kind
	switch tok.(type) {
	case string:
		k = String
	case json.Number:
		k = Number
	case bool:
		k = Bool
	default:
		k = Null
	}
	v, err := p.t.value(k, line, depth)
	if err != nil {
		return nil, err
	}
	switch tk := tok.(type) {
	case string:
		v.Str = tk
	case json.Number:
		v.Str = string(tk)
	case bool:
		v.Bool = tk
	}
	return v, nil
}

// ParseYAML parses one YAML document (JSON is YAML too) into a Value. A
// syntax error is a *SyntaxError and no Value; repeated keys are Errors
// with the Value.
func ParseYAML(data []byte) (*Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &SyntaxError{Msg: "empty document"}
	}
	t := newTree(data)
	v, err := t.fromYAML(doc.Content[0], "", 0)
	if err != nil {
		return nil, err
	}
	return t.result(v)
}

// yamlError turns a YAML parser error, "yaml: line N: what", into a
// SyntaxError.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, what, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				return &SyntaxError{Line: line, Msg: what}
			}
		}
	}
	return &SyntaxError{Msg: msg}
}

func (t *tree) fromYAML(n *yaml.Node, path string, depth int) (*Value, error) {
	switch n.Kind {
	case yaml.AliasNode:
		if depth > maxDepth || n.Alias == nil {
			return nil, &SyntaxError{Line: n.Line, Msg: "an alias nested too deep or to nothing"}
		}
		return t.fromYAML(n.Alias, path, depth+1)
	case yaml.MappingNode:
		v, err := t.value(Map, n.Line, depth)
		if err != nil {
			return nil, err
		}
		mark := t.open(Map)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			for kn.Kind == yaml.AliasNode && kn.Alias != nil {
				kn = kn.Alias
			}
			if kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!null" {
				return nil, &SyntaxError{Line: n.Content[i].Line, Msg: "a key must be a string, a number or a boolean"}
			}
			key := kn.Value
			val, err := t.fromYAML(n.Content[i+1], Join(path, key), depth+1)
			if err != nil {
				return nil, err
			}
			t.add(mark, func() string { return path }, key, n.Content[i].Line, val)
		}
		t.close(v, mark)
		return v, nil
	case yaml.SequenceNode:
		v, err := t.value(List, n.Line, depth)
		if err != nil {
			return nil, err
		}
		mark := t.open(List)
		for i, c := range n.Content {
			el, err := t.fromYAML(c, Index(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			t.elems = append(t.elems, el)
		}
		t.close(v, mark)
		return v, nil
	case yaml.ScalarNode:
		var k Kind
		switch n.ShortTag() {
		case "!!null":
			k = Null
		case "!!bool":
			k = Bool
		case "!!int", "!!float":
			k = Number
		default:
			k = String
		}
		v, err := t.value(k, n.Line, depth)
		if err != nil {
			return nil, err
		}
		v.Str = n.Value
		if k == Bool {
			v.Bool, _ = strconv.ParseBool(n.Value)
		}
		return v, nil
	}
	return nil, &SyntaxError{Line: n.Line, Msg: "unsupported YAML node"}
}
