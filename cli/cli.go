// Package cli holds l7lb's commands: the Maelstrom node (l7lb itself, with
// no command), serve, check, explain, demo, version and help. Each wires
// the packages that do the work; none decides anything itself.
//
// The command line says no to what it does not know: an unknown command or
// flag, a missing or extra argument is reported on one line, followed by
// the command's usage, with exit status 2, before anything is read.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/lbnode"
	"l7lb/maelstrom"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // a runtime failure
	exitConfig = 2 // a bad configuration or command line
)

// A command is l7lb itself (the node) or one of its subcommands. A command
// with subcommands runs the one its first argument names, and itself when
// that argument is a flag or absent; a group such as `l7lb fleet push`
// is a command whose subcommands are push, get and so on.
type command struct {
	name     string   // as typed
	summary  string   // one line, for its parent's list of commands
	doc      string   // what it does, for its usage
	args     []string // positional arguments; optional ones in brackets
	required []string // flags that must be given a value
	// setup defines the command's flags on fs and returns what runs it once
	// they are parsed. Flags are defined afresh for every run, so Main can
	// run more than once in a process.
	setup       func(fs *flag.FlagSet) func(*call) int
	subcommands []*command
}

// streams are the process's standard streams.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// A call is one run of a command, its flags parsed.
type call struct {
	streams
	cmd  *command
	path string // the command as typed: "l7lb explain"
	fs   *flag.FlagSet
	args []string // the positional arguments
}

// root is l7lb itself: the Maelstrom node, and the parent of every command.
var root = &command{
	name: "l7lb",
	doc: `l7lb is an HTTP-aware (layer 7) load balancer. Without a command it is a
Maelstrom node: JSON messages on standard input, one per line, replies on
standard output (docs/protocol.md).

Exit status: 0 success, 1 a runtime failure, 2 a usage or configuration
error.`,
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := fs.String("config", "", "configuration `FILE` (YAML or JSON) to start with; not - (stdin carries the messages)")
		return func(c *call) int { return node(*file, c) }
	},
}

// The list refers to help, which refers to root: set it at init.
func init() {
	root.subcommands = []*command{serveCommand, checkCommand, explainCommand, fleetCommand, demoCommand, versionCommand, helpCommand}
}

// Main runs the command args names and returns the process's exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return root.run(root.name, args, streams{stdin, stdout, stderr})
}

// run runs cmd, or the subcommand args[0] names, with args.
func (cmd *command) run(path string, args []string, s streams) int {
	if len(cmd.subcommands) > 0 && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub := cmd.subcommand(args[0])
		if sub == nil {
			fs, _ := cmd.flags()
			return usageError(s.stderr, cmd, path, fs, fmt.Sprintf("unknown command %q", args[0]))
		}
		return sub.run(path+" "+sub.name, args[1:], s)
	}
	fs, run := cmd.flags()
	c := &call{streams: s, cmd: cmd, path: path, fs: fs}
	var err error
	if c.args, err = parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.usage(s.stdout, path, fs)
			return exitOK
		}
		return c.usageError(flagError(err, args))
	}
	if msg := c.checkArgs(); msg != "" {
		return c.usageError(msg)
	}
	return run(c)
}

func (cmd *command) subcommand(name string) *command {
	for _, sub := range cmd.subcommands {
		if sub.name == name {
			return sub
		}
	}
	return nil
}

// flags returns a flag set with cmd's flags, reporting nothing itself, and
// what runs cmd once it is parsed.
func (cmd *command) flags() (*flag.FlagSet, func(*call) int) {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, cmd.setup(fs)
}

// parse parses flags anywhere among args, as kubectl and caddy do, and
// returns the other arguments; "--" ends the flags. (A flag whose value is
// itself "--" followed by more arguments is read as that end.)
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagError says what is wrong with a flag, naming it as typed.
func flagError(err error, args []string) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag " + typedFlag(name, args)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag " + typedFlag(name, args) + " needs a value"
	}
	return msg
}

// typedFlag returns the flag called name as args spell it: -x or --x.
func typedFlag(name string, args []string) string {
	for _, a := range args {
		spelled, _, _ := strings.Cut(a, "=")
		if strings.HasPrefix(spelled, "-") && strings.TrimLeft(spelled, "-") == name {
			return spelled
		}
	}
	return dashed(name)
}

// dashed spells a flag as usage shows it: -H, --config.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// checkArgs returns what is missing or extra on the command line, or "".
func (c *call) checkArgs() string {
	for _, name := range c.cmd.required {
		if c.fs.Lookup(name).Value.String() == "" {
			return "missing flag " + dashed(name)
		}
	}
	need := 0
	for _, a := range c.cmd.args {
		if !strings.HasPrefix(a, "[") {
			need++
		}
	}
	switch n := len(c.args); {
	case n < need && need-n == 1:
		return "missing argument " + c.cmd.args[n]
	case n < need:
		return "missing arguments " + strings.Join(c.cmd.args[n:need], " ")
	case n > len(c.cmd.args):
		extra := c.args[len(c.cmd.args)]
		if c.cmd.subcommand(extra) != nil {
			return fmt.Sprintf("unexpected argument %q (the command goes first: %s %s ...)", extra, c.path, extra)
		}
		return fmt.Sprintf("unexpected argument %q", extra)
	}
	return ""
}

// usageError reports a bad command line: one line naming what is wrong,
// then the command's usage, on stderr.
func (c *call) usageError(msg string) int {
	return usageError(c.stderr, c.cmd, c.path, c.fs, msg)
}

func usageError(stderr io.Writer, cmd *command, path string, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(stderr, "%s: %s\n", path, msg)
	cmd.usage(stderr, path, fs)
	return exitConfig
}

// usage writes cmd's usage: its synopsis, what it does, its commands and
// every flag with its default.
func (cmd *command) usage(w io.Writer, path string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n", cmd.synopsis(path, fs))
	if len(cmd.subcommands) > 0 {
		fmt.Fprintf(w, "       %s COMMAND [ARGUMENT]...\n", path)
	}
	fmt.Fprintf(w, "\n%s\n", cmd.doc)
	if len(cmd.subcommands) > 0 {
		fmt.Fprintln(w, "\nCommands:")
		rows := make([][2]string, len(cmd.subcommands))
		for i, sub := range cmd.subcommands {
			rows[i] = [2]string{sub.name, sub.summary}
		}
		writeColumns(w, rows)
	}
	var rows [][2]string
	fs.VisitAll(func(f *flag.Flag) {
		value, text := flag.UnquoteUsage(f)
		left := dashed(f.Name)
		if value != "" {
			left += " " + value
		}
		switch {
		case cmd.requires(f.Name):
			text += " (required)"
		case !isZero(f.DefValue):
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, [2]string{left, text})
	})
	if len(rows) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		writeColumns(w, rows)
	}
	if len(cmd.subcommands) > 0 {
		fmt.Fprintf(w, "\n`l7lb help %sCOMMAND` or `%s COMMAND --help` prints a command's usage and flags.\n", strings.TrimPrefix(path+" ", "l7lb "), path)
	}
}

// synopsis is cmd's usage line: required flags, optional ones in
// brackets, then the positional arguments.
func (cmd *command) synopsis(path string, fs *flag.FlagSet) string {
	parts := []string{path}
	for _, name := range cmd.required {
		value, _ := flag.UnquoteUsage(fs.Lookup(name))
		parts = append(parts, dashed(name)+" "+value)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if cmd.requires(f.Name) {
			return
		}
		value, _ := flag.UnquoteUsage(f)
		_, repeatable := f.Value.(interface{ repeatable() })
		switch {
		case repeatable:
			parts = append(parts, "["+dashed(f.Name)+" "+value+"]...")
		case value != "":
			parts = append(parts, "["+dashed(f.Name)+" "+value+"]")
		case f.DefValue == "true": // a boolean on by default
			parts = append(parts, "["+dashed(f.Name)+"=false]")
		default:
			parts = append(parts, "["+dashed(f.Name)+"]")
		}
	})
	return strings.Join(append(parts, cmd.args...), " ")
}

func (cmd *command) requires(name string) bool {
	for _, r := range cmd.required {
		if r == name {
			return true
		}
	}
	return false
}

// isZero reports whether a flag's default is its type's zero value, which
// usage does not show.
func isZero(def string) bool {
	switch def {
	case "", "false", "0", "[]":
		return true
	}
	return false
}

// writeColumns writes rows as two aligned, indented columns.
func writeColumns(w io.Writer, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
	}
}

var helpCommand = &command{
	name:    "help",
	summary: "print a command's usage, flags and defaults",
	doc:     "Print the usage of COMMAND (or of its SUBCOMMAND, as in `l7lb help fleet push`) with every flag and its default; without COMMAND, l7lb's.",
	args:    []string{"[COMMAND]", "[SUBCOMMAND]"},
	setup:   func(*flag.FlagSet) func(*call) int { return help },
}

func help(c *call) int {
	cmd, path := root, root.name
	for i, name := range c.args {
		if len(cmd.subcommands) == 0 {
			return c.usageError(fmt.Sprintf("unexpected argument %q", c.args[i]))
		}
		sub := cmd.subcommand(name)
		if sub == nil {
			// The list of commands is what helps here: the parent's usage.
			fs, _ := cmd.flags()
			fmt.Fprintf(c.stderr, "%s: unknown command %q\n", c.path, name)
			cmd.usage(c.stderr, path, fs)
			return exitConfig
		}
		cmd, path = sub, path+" "+sub.name
	}
	fs, _ := cmd.flags()
	cmd.usage(c.stdout, path, fs)
	return exitOK
}

var versionCommand = &command{
	name:    "version",
	summary: "print the version, VCS revision, Go version and race detector state",
	doc: `Print the build: the module version and VCS revision go build stamped
(revision=unknown when it stamped none), whether the work tree had
uncommitted changes, the Go version and whether the race detector is on.
serve logs the same line first, and the admin listener serves it.`,
	setup: func(*flag.FlagSet) func(*call) int {
		return func(c *call) int {
			fmt.Fprintln(c.stdout, "l7lb", buildinfo.Get())
			return exitOK
		}
	},
}

// configFlag defines the --config flag of a command that may read its
// configuration from standard input.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration `FILE` (YAML or JSON); - reads it from standard input")
}

// stdinName is what messages call a configuration read from standard input.
const stdinName = "<stdin>"

// readConfig reads the configuration file name, or standard input for
// "-", and returns what errors call it with its bytes.
func readConfig(name string, stdin io.Reader) (string, []byte, error) {
	if name != "-" {
		data, err := os.ReadFile(name)
		return name, data, err
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %v", stdinName, err)
	}
	return stdinName, data, nil
}

// node runs the Maelstrom node until its input ends.
func node(file string, c *call) int {
	if file == "-" {
		return c.usageError("--config -: standard input carries the node's messages; give the configuration as a file")
	}
	eng := engine.New(stderrWarn(c.stderr))
	if file != "" {
		if err := loadNodeConfig(eng, file); err != nil {
			fmt.Fprintln(c.stderr, err)
			return exitConfig
		}
	}
	growPipe(c.stdin)
	growPipe(c.stdout)
	n := maelstrom.NewNode(c.stdin, c.stdout, c.stderr)
	lbnode.Register(n, eng)
	if err := n.Run(); err != nil {
		fmt.Fprintln(c.stderr, "l7lb:", err)
		return exitFailed
	}
	return exitOK
}

// loadNodeConfig reads the configuration file name into eng, before init:
// its errors, the engine's included, are located (FILE:LINE: field: ...).
//
// At 100,000 routes the load makes millions of objects. What the parse
// and decode make stays live until the decode ends (the parsed tree, then
// the configuration): a collection meanwhile would free next to nothing,
// so the collector is off until then and runs once, when the tree is
// garbage. During the compile, which makes short-lived objects, it runs
// less often than by default. The tree is not kept to locate the engine's
// errors: a file that fails is parsed again for them.
func loadNodeConfig(eng *engine.Engine, name string) error {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	f, _, err := config.ReadFile(name, false)
	if err != nil {
		return err
	}
	runtime.GC()
	debug.SetGCPercent(400)
	if err := eng.Load(&f.Config); err != nil {
		if _, src, rerr := config.ReadFile(name, false); rerr == nil {
			return src.Locate(err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// headerFlags collects repeated -H 'Name: value' flags.
type headerFlags []httpmsg.Field

func (h *headerFlags) String() string { return fmt.Sprint(*h) }

func (h *headerFlags) repeatable() {}

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
