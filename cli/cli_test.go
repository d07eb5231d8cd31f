package cli

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// testFlags returns a flag set like a command's: a string, a repeatable
// value and a boolean.
func testFlags() (*flag.FlagSet, *string, *headerFlags, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var h headerFlags
	fs.Var(&h, "H", "header")
	return fs, fs.String("config", "", "file"), &h, fs.Bool("v", false, "verbose")
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		positional []string
		config     string
		headers    int
		v          bool
		err        string
	}{
		{args: nil},
		{args: []string{"GET", "/"}, positional: []string{"GET", "/"}},
		{args: []string{"--config", "f", "GET", "/"}, positional: []string{"GET", "/"}, config: "f"},
		{args: []string{"GET", "--config", "f", "/"}, positional: []string{"GET", "/"}, config: "f"},
		{args: []string{"GET", "/", "--config=f", "-v"}, positional: []string{"GET", "/"}, config: "f", v: true},
		{args: []string{"-H", "A: 1", "GET", "-H", "B: 2", "/"}, positional: []string{"GET", "/"}, headers: 2},
		// A flag's value may start with a dash; - alone is an argument.
		{args: []string{"--config", "-", "-"}, positional: []string{"-"}, config: "-"},
		// -- ends the flags, wherever it comes.
		{args: []string{"--", "-v", "--config"}, positional: []string{"-v", "--config"}},
		{args: []string{"GET", "--", "-v"}, positional: []string{"GET", "-v"}},
		{args: []string{"-v", "GET", "--config", "f", "--", "--", "x"}, positional: []string{"GET", "--", "x"}, config: "f", v: true},
		{args: []string{"GET", "--nope"}, err: "flag provided but not defined: -nope"},
		{args: []string{"GET", "--config"}, err: "flag needs an argument: -config"},
	} {
		fs, config, headers, v := testFlags()
		positional, err := parse(fs, tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parse %q: error %v, want %s", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(positional, tc.positional) || *config != tc.config || len(*headers) != tc.headers || *v != tc.v {
			t.Errorf("parse %q: %q, config %q, %d headers, v %t, %v\nwant %q, config %q, %d headers, v %t",
				tc.args, positional, *config, len(*headers), *v, err, tc.positional, tc.config, tc.headers, tc.v)
		}
	}
}

func TestFlagError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"-bogus=1"}, "unknown flag -bogus"},
		{[]string{"GET", "-x"}, "unknown flag -x"},
		{[]string{"--config"}, "flag --config needs a value"},
		{[]string{"-config"}, "flag -config needs a value"},
		{[]string{"-H", "nocolon"}, `invalid value "nocolon" for flag -H: want 'Name: value', got "nocolon"`},
	} {
		fs, _, _, _ := testFlags()
		_, err := parse(fs, tc.args)
		if err == nil {
			t.Errorf("parse %q: no error", tc.args)
			continue
		}
		if got := flagError(err, tc.args); got != tc.want {
			t.Errorf("parse %q: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// FuzzParse checks that flags may go anywhere among the arguments: any
// interleaving of the same flags and arguments parses to the same values
// and the same arguments, in order.
func FuzzParse(f *testing.F) {
	f.Add("GET /", "f.yaml", " x", true, uint64(0b1010))
	f.Add("a - b", "-", "", false, uint64(0xffff))
	f.Add("", "--config", "-", true, uint64(1))
	f.Fuzz(func(t *testing.T, words, config, header string, verbose bool, order uint64) {
		var want []string
		for _, w := range strings.Fields(words) {
			if w == "-" || !strings.HasPrefix(w, "-") {
				want = append(want, w)
			}
		}
		// A value of exactly -- is read as the end of the flags (see parse).
		if config == "--" {
			config = "--x"
		}
		header = "X-Fuzz:" + header // always a valid header
		flags := [][]string{{"--config", config}, {"-H", header}}
		if verbose {
			flags = append(flags, []string{"-v"})
		}
		var args []string
		rest := want
		for len(flags) > 0 || len(rest) > 0 {
			if len(rest) == 0 || len(flags) > 0 && order&1 == 1 {
				args = append(args, flags[0]...)
				flags = flags[1:]
			} else {
				args = append(args, rest[0])
				rest = rest[1:]
			}
			order >>= 1
		}
		fs, gotConfig, headers, v := testFlags()
		got, err := parse(fs, args)
		if err != nil {
			t.Fatalf("parse %q: %v", args, err)
		}
		if !slices.Equal(got, want) || *gotConfig != config || len(*headers) != 1 || *v != verbose {
			t.Fatalf("parse %q: %q, config %q, headers %q, v %t; want %q, %q, one header, %t",
				args, got, *gotConfig, *headers, *v, want, config, verbose)
		}
	})
}
