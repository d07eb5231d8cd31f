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
	Kind     Kind
	Str      string // String, and the literal text of a Number
	Bool     bool
	List     []*Value
	Keys     []string // Map keys in source order, each once
	KeyLines []int    // Map: the line of each key, parallel to Keys
	Vals     []*Value // Map values, parallel to Keys
	Line     int
}

// Get returns the value of key in a Map, or nil.
func (v *Value) Get(key string) *Value {
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

// tree collects what both parsers share: the budget of values and depth,
// and the repeated keys found, which are errors that do not stop parsing.
type tree struct {
	values   int // values left to make
	repeated Errors
	// keys indexes the keys of the objects grown past a few keys, so that
	// finding repeated keys stays linear in the size of the document.
	keys map[*Value]map[string]int
	// slab is where values are allocated from, many at a time.
	slab []Value
}

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
		t.slab = make([]Value, min(128, t.values+1))
	}
	v := &t.slab[0]
	t.slab = t.slab[1:]
	v.Kind, v.Line = k, line
	return v, nil
}

// add adds key (at line keyLine) and val to the map m at path. A key m
// already holds is recorded as an error and dropped: the first stays.
func (t *tree) add(m *Value, path, key string, keyLine int, val *Value) {
	if i := t.find(m, key); i >= 0 {
		t.repeated = append(t.repeated, &FieldError{Path: Join(path, key), Line: keyLine,
			Msg: fmt.Sprintf("repeated key (first at line %d)", m.KeyLines[i])})
		return
	}
	if idx := t.keys[m]; idx != nil {
		idx[key] = len(m.Keys)
	}
	m.Keys = append(m.Keys, key)
	m.KeyLines = append(m.KeyLines, keyLine)
	m.Vals = append(m.Vals, val)
}

// find returns the index of key in the map m, or -1.
func (t *tree) find(m *Value, key string) int {
	const scan = 16 // keys looked up by a scan; beyond, by an index
	if len(m.Keys) <= scan {
		for i, k := range m.Keys {
			if k == key {
				return i
			}
		}
		return -1
	}
	idx := t.keys[m]
	if idx == nil {
		if t.keys == nil {
			t.keys = map[*Value]map[string]int{}
		}
		idx = make(map[string]int, 2*len(m.Keys))
		for i, k := range m.Keys {
			idx[k] = i
		}
		t.keys[m] = idx
	}
	if i, ok := idx[key]; ok {
		return i
	}
	return -1
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
				p.t.add(v, path, key, keyLine, val)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
			return v, nil
		case '[':
			v, err := p.t.value(List, line, depth)
			if err != nil {
				return nil, err
			}
			for p.dec.More() {
				el, err := p.value(Index(path, len(v.List)), depth+1)
				if err != nil {
					return nil, err
				}
				v.List = append(v.List, el)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
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
	switch t := tok.(type) {
	case string:
		v.Str = t
	case json.Number:
		v.Str = string(t)
	case bool:
		v.Bool = t
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
			t.add(v, path, key, n.Content[i].Line, val)
		}
		return v, nil
	case yaml.SequenceNode:
		v, err := t.value(List, n.Line, depth)
		if err != nil {
			return nil, err
		}
		for _, c := range n.Content {
			el, err := t.fromYAML(c, Index(path, len(v.List)), depth+1)
			if err != nil {
				return nil, err
			}
			v.List = append(v.List, el)
		}
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
