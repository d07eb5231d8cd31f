package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Source is a parsed configuration file, kept to find the line of a field
// that a later check (the engine's) finds fault with.
type Source struct {
	Name string
	Root *Value
}

// ReadFile reads a configuration file, YAML or JSON; with serve, for the
// HTTP proxy (see DecodeFile). Relative file names in it (certificates,
// keys) are taken from the file's directory.
func ReadFile(name string, serve bool) (*File, *Source, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	return Read(name, data, serve)
}

// Read parses and decodes data, a configuration that errors call name
// (a file name, or <stdin>).
func Read(name string, data []byte, serve bool) (*File, *Source, error) {
	v, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", name, err)
	}
	src := &Source{Name: name, Root: v}
	f, err := DecodeFile(v, serve)
	if err != nil {
		return nil, nil, src.Locate(err)
	}
	dir, err := filepath.Abs(filepath.Dir(name))
	if err != nil {
		return nil, nil, err
	}
	f.resolvePaths(dir)
	return f, src, nil
}

// Parse parses a JSON document (one that starts with '{') or else a YAML
// document.
func Parse(data []byte) (*Value, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return ParseJSON(data)
	}
	return ParseYAML(data)
}

// Locate writes every field error of err on a line of its own as
// `FILE:LINE: field: message`.
func (s *Source) Locate(err error) error {
	var es Errors
	if !errors.As(err, &es) {
		return fmt.Errorf("%s: %v", s.Name, err)
	}
	lines := make([]string, len(es))
	for i, e := range es {
		line := e.Line
		if line == 0 {
			line = s.Root.lineOf(e.Path)
		}
		if line > 0 {
			lines[i] = fmt.Sprintf("%s:%d: %s", s.Name, line, e)
		} else {
			lines[i] = fmt.Sprintf("%s: %s", s.Name, e)
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// lineOf returns the line of the deepest value on a field path such as
// `routes[1].rewrite.regex.pattern`, or 0.
func (v *Value) lineOf(path string) int {
	line := v.Line
	for path != "" && v != nil {
		var step string
		step, path, _ = strings.Cut(path, ".")
		key, rest, _ := strings.Cut(step, "[")
		if key != "" {
			if v = v.Get(key); v == nil {
				break
			}
			line = v.Line
		}
		for rest != "" && v != nil {
			var idx string
			idx, rest, _ = strings.Cut(rest, "]")
			rest = strings.TrimPrefix(rest, "[")
			i, err := strconv.Atoi(idx)
			if err != nil || v.Kind != List || i < 0 || i >= len(v.List) {
				return line
			}
			v = v.List[i]
			line = v.Line
		}
	}
	return line
}

// Position returns "FILE:LINE" of the deepest value on a field path, or
// "FILE" when the line is unknown: the prefix of a message about that field.
func (s *Source) Position(path string) string {
	if line := s.Root.lineOf(path); line > 0 {
		return fmt.Sprintf("%s:%d", s.Name, line)
	}
	return s.Name
}
