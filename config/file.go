package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Source is a parsed configuration file, kept to find the line of a field
// that a later check (the engine's) finds fault with.
type Source struct {
	Name string
	Root *Value
	// Shared is the fleet's shared document, whose keys (SharedKeys) it
	// locates; nil outside a fleet.
	Shared *Source
}

// ReadFile reads a configuration file, YAML or JSON; with serve, for the
// HTTP proxy (see DecodeFile). Relative file names in it (certificates,
// keys) are taken from the file's directory. Its errors are located (see
// Locate).
func ReadFile(name string, serve bool) (*File, *Source, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	return Read(name, data, serve)
}

// Read is ReadFile for data that errors call name (a file name, or
// <stdin>).
func Read(name string, data []byte, serve bool) (*File, *Source, error) {
	f, src, err := Load(name, data, serve)
	if err != nil {
		if src == nil {
			return nil, nil, err
		}
		return nil, nil, src.Locate(err)
	}
	return f, src, nil
}

// Load parses and decodes the configuration file name holding data. When
// the document parses, it returns the Source and the File decoded from it
// even if some fields have errors, so that a later check (the engine's)
// can add its own: err is then Errors, to be joined with the later check's
// and passed to Source.Locate. A document that does not parse gives no
// File and no Source, and an error already located.
func Load(name string, data []byte, serve bool) (*File, *Source, error) {
	return LoadIn(filepath.Dir(name), name, data, serve)
}

// LoadIn is Load for a document whose relative file names are relative
// to dir: one that came from elsewhere than its file (the admin API).
func LoadIn(dir, name string, data []byte, serve bool) (*File, *Source, error) {
	v, perr := Parse(data)
	var es Errors
	if perr != nil && !errors.As(perr, &es) {
		var se *SyntaxError
		if errors.As(perr, &se) && se.Line > 0 {
			return nil, nil, &Located{Name: name, Problems: []Problem{{Line: se.Line, Msg: se.Msg}}}
		}
		return nil, nil, &Located{Name: name, Problems: []Problem{{Msg: perr.Error()}}}
	}
	src := &Source{Name: name, Root: v}
	f, err := DecodeFile(v, serve)
	if err != nil {
		es = append(es, err.(Errors)...)
	}
	if dir, err := filepath.Abs(dir); err == nil {
		f.resolvePaths(dir)
	}
	return f, src, es.Err()
}

// Parse parses a JSON document (one that starts with '{') or else a YAML
// document. See ParseJSON and ParseYAML for its errors.
func Parse(data []byte) (*Value, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return ParseJSON(data)
	}
	return ParseYAML(data)
}

// Locate writes every field error of err on a line of its own as
// `FILE:LINE: field: message`, in line order (errors of the same line in
// the order given). The error it returns is a *Located, whose problems a
// caller can also read one by one.
func (s *Source) Locate(err error) error {
	var es Errors
	if !errors.As(err, &es) {
		return &Located{Name: s.Name, Problems: []Problem{{Msg: escapeControls(err.Error())}}}
	}
	out := make([]Problem, len(es))
	for i, e := range es {
		in := s.of(e)
		line := e.Line
		if line == 0 {
			line = in.Root.lineOf(e.Path)
		}
		out[i] = Problem{Field: e.Path, Line: line, Msg: escapeControls(e.Msg)}
		if in != s {
			out[i].File = in.Name
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return &Located{Name: s.Name, Problems: out}
}

// of returns the document e is in: the shared one for a shared key.
func (s *Source) of(e *FieldError) *Source {
	if s.Shared == nil {
		return s
	}
	if e.File != "" {
		if e.File == s.Shared.Name {
			return s.Shared
		}
		return s
	}
	top, _, _ := strings.Cut(e.Path, ".")
	top, _, _ = strings.Cut(top, "[")
	if IsShared(top) {
		return s.Shared
	}
	return s
}

// Located is every problem of a configuration file, each with its line.
type Located struct {
	Name     string // the file's, or <stdin>
	Problems []Problem
}

// Problem is one problem of a configuration file.
type Problem struct {
	Field string // the field path; "" for the document itself
	Line  int    // 0 when unknown
	Msg   string
	File  string // the document, when not the Located's (a fleet's shared one)
}

// Error writes one problem a line: `FILE:LINE: field: message`.
func (l *Located) Error() string {
	lines := make([]string, len(l.Problems))
	for i, p := range l.Problems {
		text := p.Msg
		if p.Field != "" {
			text = escapeControls(p.Field) + ": " + text
		}
		name := l.Name
		if p.File != "" {
			name = p.File
		}
		if p.Line > 0 {
			lines[i] = fmt.Sprintf("%s:%d: %s", name, p.Line, text)
		} else {
			lines[i] = fmt.Sprintf("%s: %s", name, text)
		}
	}
	return strings.Join(lines, "\n")
}

// escapeControls writes the control bytes of s, which may come from the
// file (a key, a value), as \xHH, so that every error stays on its line.
func escapeControls(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

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
