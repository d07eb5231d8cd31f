package cli

import (
	"flag"
	"fmt"
	"io"

	"l7lb/router"
)

var checkCommand = &command{
	name:    "check",
	summary: "validate a configuration",
	doc: `Validate a serve configuration without serving: exit 0 and a summary, or
exit 2 and every error with its file, line and field. Routes that can never
match are warned about.`,
	required: []string{"config"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		return func(c *call) int { return check(*file, c.stdin, c.stdout, c.stderr) }
	},
}

// check validates a serve configuration without serving: exit 0 and a
// summary, or exit 2 and every error with its field path and line. It also
// warns about routes that can never match.
func check(file string, stdin io.Reader, stdout, stderr io.Writer) int {
	l, err := load(file, stdin, io.Discard)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	f := l.file
	specs := make([]router.Spec, len(f.Routes))
	for i, r := range f.Routes {
		specs[i] = router.Spec{Hosts: r.Hosts, Path: r.Path, Methods: r.Methods}
		for _, h := range r.Headers {
			specs[i].Headers = append(specs[i].Headers, router.Header{Name: h.Name, Value: h.Value})
		}
	}
	for _, s := range router.Shadowed(specs) {
		fmt.Fprintf(stdout, "%s: warning: route %s can never match: route %s matches every request it does and comes first\n",
			l.name, f.Routes[s.Index].Name, f.Routes[s.By].Name)
	}
	fmt.Fprintf(stdout, "%s: ok: %d routes, %d servers, listen %s, sticky %s\n", l.name, len(f.Routes), len(f.Servers), f.Listen, f.Sticky.Mode)
	return exitOK
}
