package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

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
	Kind Kind
	Str  string // String, and the literal text of a Number
	Bool bool
	List []*Value
	Keys []string // Map keys in source order
	Vals []*Value // Map values, parallel to Keys
	Line int
}

// Get returns the last value of key in a Map (later duplicates win, as in
// encoding/json), or nil.
func (v *Value) Get(key string) *Value {
	for i := len(v.Keys) - 1; i >= 0; i-- {
		if v.Keys[i] == key {
			return v.Vals[i]
		}
	}
	return nil
}

// ParseJSON parses one JSON document into a Value, with line numbers.
func ParseJSON(data []byte) (*Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonParser{dec: dec, data: data}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("line %d: data after the JSON document", p.line())
	}
	return v, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

// line is the line of the decoder's current input offset.
func (p *jsonParser) line() int {
	off := min(int(p.dec.InputOffset()), len(p.data))
	return bytes.Count(p.data[:off], []byte{'\n'}) + 1
}

func (p *jsonParser) value() (*Value, error) {
	line := p.line()
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("line %d: %v", bytes.Count(p.data[:min(int(se.Offset), len(p.data))], []byte{'\n'})+1, err)
		}
		if err == io.EOF {
			return nil, errors.New("empty document")
		}
		return nil, fmt.Errorf("line %d: %v", p.line(), err)
	}
	// The token started after any whitespace that preceded it; count the
	// newlines skipped so the line is the token's own.
	if off := int(p.dec.InputOffset()); off <= len(p.data) {
		line = bytes.Count(p.data[:off], []byte{'\n'}) + 1
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &Value{Kind: Map, Line: line}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, fmt.Errorf("line %d: %v", p.line(), err)
				}
				val, err := p.value()
				if err != nil {
					return nil, err
				}
				v.Keys = append(v.Keys, kt.(string))
				v.Vals = append(v.Vals, val)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, fmt.Errorf("line %d: %v", p.line(), err)
			}
			return v, nil
		case '[':
			v := &Value{Kind: List, Line: line}
			for p.dec.More() {
				el, err := p.value()
				if err != nil {
					return nil, err
				}
				v.List = append(v.List, el)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, fmt.Errorf("line %d: %v", p.line(), err)
			}
			return v, nil
		}
		return nil, fmt.Errorf("line %d: unexpected %v", line, t)
	case string:
		return &Value{Kind: String, Str: t, Line: line}, nil
	case json.Number:
		return &Value{Kind: Number, Str: string(t), Line: line}, nil
	case bool:
		return &Value{Kind: Bool, Bool: t, Line: line}, nil
	default:
		return &Value{Kind: Null, Line: line}, nil
	}
}

// ParseYAML parses one YAML document (JSON is YAML too) into a Value.
func ParseYAML(data []byte) (*Value, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("empty document")
	}
	return fromYAML(doc.Content[0])
}

func fromYAML(n *yaml.Node) (*Value, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return fromYAML(n.Alias)
	case yaml.MappingNode:
		v := &Value{Kind: Map, Line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := fromYAML(n.Content[i])
			if err != nil {
				return nil, err
			}
			if k.Kind != String && k.Kind != Number && k.Kind != Bool {
				return nil, fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			val, err := fromYAML(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			v.Keys = append(v.Keys, k.Str)
			v.Vals = append(v.Vals, val)
		}
		return v, nil
	case yaml.SequenceNode:
		v := &Value{Kind: List, Line: n.Line}
		for _, c := range n.Content {
			el, err := fromYAML(c)
			if err != nil {
				return nil, err
			}
			v.List = append(v.List, el)
		}
		return v, nil
	case yaml.ScalarNode:
		v := &Value{Line: n.Line, Str: n.Value}
		switch n.ShortTag() {
		case "!!null":
			v.Kind = Null
		case "!!bool":
			v.Kind = Bool
			v.Bool, _ = strconv.ParseBool(n.Value)
		case "!!int", "!!float":
			v.Kind = Number
		default:
			v.Kind = String
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
