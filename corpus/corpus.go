// Package corpus holds raw HTTP request corpora taken from public test
// suites (llhttp's request tests, smuggler's mutations) and judges what an
// HTTP proxy does with each case: which requests it forwards, as what, and
// which it refuses with which status. The proxy's tests run every case
// against l7lb; tools/corpora extracts the cases from their sources,
// writes the verdict docs/ and the RFCs lead to (Expect), and measures
// HAProxy's and nginx's for comparison.
package corpus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// A Case is one raw request stream and the verdicts on it.
type Case struct {
	ID      string // where it comes from: file:line and name, or config:mutation and variant
	Raw     []byte // the bytes a client sends, then half-closes
	Expect  string // l7lb's verdict, by the rules in Expect
	HAProxy string // HAProxy 2.6's verdict, measured; "" when not measured
	Nginx   string // nginx 1.22's verdict, measured; "" when not measured
}

// A File is a corpus file: its header comment and its cases.
type File struct {
	Header []string // comment lines, without "# "
	Cases  []Case
}

// Columns is the header line that names a corpus file's columns.
const Columns = "id\traw (a Go string literal)\texpected l7lb verdict\tHAProxy 2.6 verdict\tnginx 1.22 verdict"

// Write writes f: "# " comment lines, then one case per line, its fields
// separated by tabs, the raw bytes as a Go string literal.
func (f *File) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, h := range f.Header {
		fmt.Fprintf(bw, "# %s\n", h)
	}
	fmt.Fprintf(bw, "# %s\n", Columns)
	for _, c := range f.Cases {
		if strings.ContainsAny(c.ID, "\t\n") {
			return fmt.Errorf("case id %q holds a tab or newline", c.ID)
		}
		fmt.Fprintf(bw, "%s\t%s\t%s\t%s\t%s\n", c.ID, strconv.Quote(string(c.Raw)), c.Expect, dash(c.HAProxy), dash(c.Nginx))
	}
	return bw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func undash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// Read reads a file written by Write.
func Read(r io.Reader) (*File, error) {
	f := &File{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "# "); ok {
			if h != Columns {
				f.Header = append(f.Header, h)
			}
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			return nil, fmt.Errorf("line %d: %d columns, want 5", n, len(cols))
		}
		raw, err := strconv.Unquote(cols[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: raw: %v", n, err)
		}
		f.Cases = append(f.Cases, Case{ID: cols[0], Raw: []byte(raw), Expect: cols[2], HAProxy: undash(cols[3]), Nginx: undash(cols[4])})
	}
	return f, sc.Err()
}

// ReadFile reads the corpus file called name.
func ReadFile(name string) (*File, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := Read(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

var errSyntax = errors.New("syntax error")
