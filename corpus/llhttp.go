package corpus

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// LLHTTP extracts the request cases of one of llhttp's test/request/*.md
// files, named file: every ```http block whose meta type is a request type,
// turned into bytes exactly as llhttp's test runner (test/md-test.ts) turns
// it: the fence's text less its last newline, backslash-newline joins,
// newlines as CRLF, then the escapes \r \n \t \f, \xHH and octal \NNN, in
// that order. The runner hands the result over as UTF-8: a code point
// above 0x7F, written as is ("Düsseldorf") or escaped ("\xff", "\325"),
// is its UTF-8 bytes, as the expected logs' lengths show. Each case's id is
// "file:line heading", the line that of the fence.
func LLHTTP(file string, md []byte) ([]Case, error) {
	var cases []Case
	lines := strings.Split(string(md), "\n")
	heading, meta := "", ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			meta = ""
		case strings.HasPrefix(line, "<!-- meta="):
			meta = strings.TrimSuffix(strings.TrimPrefix(line, "<!-- meta="), " -->")
		case line == "```http":
			start := i + 1
			var body strings.Builder
			for i++; i < len(lines) && lines[i] != "```"; i++ {
				body.WriteString(lines[i] + "\n")
			}
			if i == len(lines) {
				return nil, fmt.Errorf("%s:%d: unterminated http block", file, start)
			}
			var m struct{ Type string }
			if err := json.Unmarshal([]byte(meta), &m); err != nil {
				return nil, fmt.Errorf("%s:%d: meta %q: %v", file, start, meta, err)
			}
			if !strings.HasPrefix(m.Type, "request") {
				continue
			}
			raw, err := llhttpInput(body.String())
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, start, err)
			}
			id := fmt.Sprintf("%s:%d %s", file, start, strings.ReplaceAll(heading, "\t", " "))
			if m.Type != "request" {
				id += " [" + m.Type + "]"
			}
			cases = append(cases, Case{ID: id, Raw: raw})
		}
	}
	return cases, nil
}

var (
	escapedNewline = regexp.MustCompile(`\\(\r\n|\r|\n)`)
	anyNewline     = regexp.MustCompile(`\r\n|\r|\n`)
	hexEscape      = regexp.MustCompile(`\\x([0-9a-fA-F]+)`)
	octalEscape    = regexp.MustCompile(`\\([0-7]{1,3})`)
)

// llhttpInput applies md-test.ts's transformations to a fence's text.
func llhttpInput(s string) ([]byte, error) {
	if strings.Contains(s, "${") {
		return nil, fmt.Errorf("inline JavaScript is not supported")
	}
	s = strings.TrimSuffix(s, "\n")
	s = escapedNewline.ReplaceAllString(s, "")
	s = anyNewline.ReplaceAllString(s, "\r\n")
	s = strings.NewReplacer(`\r`, "\r").Replace(s)
	s = strings.NewReplacer(`\n`, "\n").Replace(s)
	s = strings.NewReplacer(`\t`, "\t").Replace(s)
	s = strings.NewReplacer(`\f`, "\f").Replace(s)
	var err error
	code := func(digits string, base int) string {
		n, e := strconv.ParseUint(digits, base, 32)
		if e != nil {
			err = e
		}
		return string(rune(n))
	}
	s = hexEscape.ReplaceAllStringFunc(s, func(m string) string { return code(m[2:], 16) })
	s = octalEscape.ReplaceAllStringFunc(s, func(m string) string { return code(m[1:], 8) })
	return []byte(s), err
}
