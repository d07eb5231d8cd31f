package corpus

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Mutation is one of smuggler's Transfer-Encoding mutations: a header
// line (the gadget) put into its request template.
type Mutation struct {
	Name   string // config:name, e.g. "default.py:midspace-09"
	Gadget string
}

// smugglerTemplate is the request template of every smuggler config
// (render_template), less the gadget line, as Python source lines: the
// configs are checked to still hold it.
var smugglerTemplate = []string{
	`def render_template(gadget):`,
	`RN = "\r\n"`,
	`p = Payload()`,
	`p.header  = "__METHOD__ __ENDPOINT__?cb=__RANDOM__ HTTP/1.1" + RN`,
	`p.header += gadget + RN`,
	`p.header += "Host: __HOST__" + RN`,
	`p.header += "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.87 Safari/537.36" + RN`,
	`p.header += "Content-type: application/x-www-form-urlencoded; charset=UTF-8" + RN`,
	`p.header += "Content-Length: __REPLACE_CL__" + RN`,
	`return p`,
}

// SmugglerMutations evaluates one of smuggler's configs/*.py, named file:
// the small part of Python they use (the template function, string
// literals with escapes, %-formatting with %c and %02x, for loops over a
// list or a range, assignments to mutations[...]), and nothing else, so
// that a config in another shape fails loudly instead of being misread.
func SmugglerMutations(file string, src []byte) ([]Mutation, error) {
	var out []Mutation
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t")
		stripped := strings.TrimSpace(line)
		switch {
		case stripped == "" || strings.HasPrefix(stripped, "#"):
		case stripped == smugglerTemplate[0]:
			n, err := checkTemplate(lines[i:])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
			}
			i += n - 1
		case strings.HasPrefix(stripped, "for "):
			values, err := loopValues(stripped)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
			}
			var body []string
			for i+1 < len(lines) && (strings.HasPrefix(lines[i+1], "\t") || strings.HasPrefix(lines[i+1], " ") || strings.TrimSpace(lines[i+1]) == "") {
				i++
				if s := strings.TrimSpace(lines[i]); s != "" {
					body = append(body, s)
				}
			}
			for _, v := range values {
				for _, stmt := range body {
					m, err := assignment(stmt, v)
					if err != nil {
						return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
					}
					m.Name = file + ":" + m.Name
					out = append(out, m)
				}
			}
		default:
			m, err := assignment(stripped, -1)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, i+1, err)
			}
			m.Name = file + ":" + m.Name
			out = append(out, m)
		}
	}
	return out, nil
}

// checkTemplate checks the render_template definition that lines start
// with and returns its length in lines.
func checkTemplate(lines []string) (int, error) {
	n := 0
	for _, want := range smugglerTemplate {
		for n < len(lines) && (strings.HasPrefix(strings.TrimSpace(lines[n]), "#") || strings.TrimSpace(lines[n]) == "") {
			n++ // comments, such as default.py's commented-out line
		}
		if n >= len(lines) || strings.TrimSpace(lines[n]) != want {
			return 0, fmt.Errorf("render_template is not the known template at its line %d", n+1)
		}
		n++
	}
	return n, nil
}

// loopValues evaluates "for i in [a, b, ...]:" or "for i in range(a, b):".
func loopValues(stmt string) ([]int, error) {
	rest, ok := strings.CutPrefix(stmt, "for i in ")
	if !ok || !strings.HasSuffix(rest, ":") {
		return nil, fmt.Errorf("unsupported loop %q", stmt)
	}
	rest = strings.TrimSuffix(rest, ":")
	var values []int
	switch {
	case strings.HasPrefix(rest, "[") && strings.HasSuffix(rest, "]"):
		for _, s := range strings.Split(rest[1:len(rest)-1], ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 32)
			if err != nil {
				return nil, fmt.Errorf("loop value %q", s)
			}
			values = append(values, int(n))
		}
	case strings.HasPrefix(rest, "range(") && strings.HasSuffix(rest, ")"):
		a, b, ok := strings.Cut(rest[len("range("):len(rest)-1], ",")
		lo, err1 := strconv.ParseInt(strings.TrimSpace(a), 0, 32)
		hi, err2 := strconv.ParseInt(strings.TrimSpace(b), 0, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unsupported range %q", rest)
		}
		for n := lo; n < hi; n++ {
			values = append(values, int(n))
		}
	default:
		return nil, fmt.Errorf("unsupported loop %q", stmt)
	}
	return values, nil
}

// assignment evaluates mutations[NAME] = render_template(GADGET), i being
// the loop variable's value (-1 outside a loop).
func assignment(stmt string, i int) (Mutation, error) {
	lhs, rhs, ok := strings.Cut(stmt, " = ")
	if !ok || !strings.HasPrefix(lhs, "mutations[") || !strings.HasSuffix(lhs, "]") ||
		!strings.HasPrefix(rhs, "render_template(") || !strings.HasSuffix(rhs, ")") {
		return Mutation{}, fmt.Errorf("unsupported statement %q", stmt)
	}
	name, err := pyString(lhs[len("mutations["):len(lhs)-1], i)
	if err != nil {
		return Mutation{}, err
	}
	gadget, err := pyString(rhs[len("render_template("):len(rhs)-1], i)
	if err != nil {
		return Mutation{}, err
	}
	return Mutation{Name: name, Gadget: gadget}, nil
}

// pyString evaluates a string literal, optionally %-formatted with the
// loop variable: "..." or "..."%i, "..."%(i) or "..."%(i,i).
func pyString(expr string, i int) (string, error) {
	lit, end, err := pyLiteral(expr)
	if err != nil {
		return "", err
	}
	rest := strings.TrimSpace(expr[end:])
	if rest == "" {
		return lit, nil
	}
	args, ok := strings.CutPrefix(rest, "%")
	args = strings.Trim(strings.TrimSpace(args), "()")
	if !ok || i < 0 {
		return "", fmt.Errorf("unsupported expression %q", expr)
	}
	n := 0
	for _, a := range strings.Split(args, ",") {
		if strings.TrimSpace(a) != "i" {
			return "", fmt.Errorf("unsupported format argument %q", a)
		}
		n++
	}
	var b strings.Builder
	for j := 0; j < len(lit); j++ {
		if lit[j] != '%' {
			b.WriteByte(lit[j])
			continue
		}
		switch {
		case strings.HasPrefix(lit[j:], "%c"):
			b.WriteRune(rune(i))
			j++
		case strings.HasPrefix(lit[j:], "%02x"):
			fmt.Fprintf(&b, "%02x", i)
			j += 3
		case strings.HasPrefix(lit[j:], "%%"):
			b.WriteByte('%')
			j++
		default:
			return "", fmt.Errorf("unsupported format in %q", lit)
		}
		n--
	}
	if n != 0 {
		return "", fmt.Errorf("format %q does not use its %d arguments", lit, len(strings.Split(args, ",")))
	}
	return b.String(), nil
}

// pyLiteral reads the double-quoted Python string literal s starts with
// and returns its value and where it ends.
func pyLiteral(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		return "", 0, fmt.Errorf("want a string literal: %q", s)
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '"':
			return b.String(), j + 1, nil
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		j++
		if j == len(s) {
			break
		}
		switch e := s[j]; e {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '"', '\'':
			b.WriteByte(e)
		case 'x', 'u':
			width := 2
			if e == 'u' {
				width = 4
			}
			if j+width >= len(s) {
				return "", 0, fmt.Errorf("short escape in %q", s)
			}
			n, err := strconv.ParseUint(s[j+1:j+1+width], 16, 32)
			if err != nil {
				return "", 0, fmt.Errorf("bad escape in %q", s)
			}
			b.WriteString(string(rune(n)))
			j += width
		default:
			return "", 0, fmt.Errorf("unsupported escape \\%c in %q", e, s)
		}
	}
	return "", 0, fmt.Errorf("unterminated string literal %q", s)
}

// The two probes smuggler sends per mutation (smuggler.py, _check_tecl and
// _check_clte with ptype 0): a body that a TE.CL pair of parsers would
// split, and one that a CL.TE pair would.
const (
	VariantTECL = "TE.CL" // Content-Length: 6, body "0\r\n\r\nX"
	VariantCLTE = "CL.TE" // Content-Length: 4, body "1\r\nZ\r\n0\r\n\r\n"
)

// SmugglerRequest renders a mutation's request as smuggler sends it
// (lib/Payload.py): method POST, endpoint "/", host host, the random cache
// buster fixed to 1, the probe's Content-Length and body, UTF-8 encoded
// (str(payload).encode()), so a gadget byte above 0x7F is two bytes.
func SmugglerRequest(gadget, variant, host string) ([]byte, error) {
	var cl, body string
	switch variant {
	case VariantTECL:
		cl, body = "6", "0\r\n\r\nX"
	case VariantCLTE:
		cl, body = "4", "1\r\nZ\r\n0\r\n\r\n"
	default:
		return nil, fmt.Errorf("unknown variant %q", variant)
	}
	s := "POST /?cb=1 HTTP/1.1\r\n" + gadget + "\r\n" + "Host: " + host + "\r\n" +
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.87 Safari/537.36\r\n" +
		"Content-type: application/x-www-form-urlencoded; charset=UTF-8\r\n" +
		"Content-Length: " + cl + "\r\n\r\n" + body
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("gadget %q is not valid text", gadget)
	}
	return []byte(s), nil
}
