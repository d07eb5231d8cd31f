// Package cli holds l7lb's commands: the Maelstrom node (the default),
// serve, check, explain and demo. Each wires the packages that do the work;
// none decides anything itself.
package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/lbnode"
	"l7lb/maelstrom"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2 // a bad configuration or command line
)

// Main runs the command args names and returns the process's exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(args[1:], stdout, stderr)
		case "check":
			return check(args[1:], stdout, stderr)
		case "explain":
			return explain(args[1:], stdout, stderr)
		case "demo":
			return demo(args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
	}
	return node(args, stdin, stdout, stderr)
}

const usage = `l7lb — an HTTP-aware (layer 7) load balancer

  l7lb [--config FILE]               a Maelstrom node on stdin/stdout
  l7lb serve --config FILE           the HTTP reverse proxy
  l7lb check --config FILE           validate a configuration
  l7lb explain --config FILE [-H 'Name: value']... METHOD URL
                                     print where a request would go
  l7lb demo                          three demo backends behind the proxy
`

// flags returns a flag set that reports to stderr and a --config flag.
func flags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("l7lb "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "configuration `file` (YAML or JSON)")
	return fs, file
}

// node runs the Maelstrom node until its input ends.
func node(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, file := flags("", stderr)
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	eng := engine.New(stderrWarn(stderr))
	if *file != "" {
		f, src, err := config.ReadFile(*file, false)
		if err == nil {
			if err = eng.Load(&f.Config); err != nil {
				err = src.Locate(err)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitConfig
		}
	}
	growPipe(stdin)
	growPipe(stdout)
	n := maelstrom.NewNode(stdin, stdout, stderr)
	lbnode.Register(n, eng)
	if err := n.Run(); err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	return exitOK
}

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []httpmsg.Field

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("want 'Name: value', got %q", s)
	}
	*h = append(*h, httpmsg.Field{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	return nil
}

// stderrWarn returns a warn function for the engine.
func stderrWarn(stderr io.Writer) func(string) {
	return func(msg string) { fmt.Fprintln(stderr, "l7lb: warning:", msg) }
}
