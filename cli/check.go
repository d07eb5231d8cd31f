package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"l7lb/certs"
	"l7lb/config"
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
// warns about routes that can never match, and loads the certificates and
// keys TLS listeners name to check them as serve would.
func check(file string, stdin io.Reader, stdout, stderr io.Writer) int {
	name, data, err := readConfig(file, stdin)
	if err == nil {
		err = checkConfig(name, data, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	return exitOK
}

// checkConfig is check's work on the bytes of the file name: every error
// of the file, or the warnings and the summary written to stdout.
func checkConfig(name string, data []byte, stdout io.Writer) error {
	l, err := compile(name, data)
	if err != nil {
		return err
	}
	f := l.File
	specs := make([]router.Spec, len(f.Routes))
	for i, r := range f.Routes {
		specs[i] = router.Spec{Hosts: r.Hosts, Path: r.Path, Methods: r.Methods}
		for _, h := range r.Headers {
			specs[i].Headers = append(specs[i].Headers, router.Header{Name: h.Name, Value: h.Value})
		}
	}
	for _, s := range router.Shadowed(specs) {
		fmt.Fprintf(stdout, "%s: warning: route %s can never match: route %s matches every request it does and comes first\n",
			name, f.Routes[s.Index].Name, f.Routes[s.By].Name)
	}
	warnings, errs := f.ListenerWarnings(), config.Errors{}
	for i, ln := range f.Listeners {
		if ln.TLS == nil {
			continue
		}
		for _, p := range certs.Check(*ln.TLS, time.Now()) {
			e := &config.FieldError{Path: config.Join(config.Join(config.Index("listeners", i), "tls"), p.Path), Msg: p.Msg}
			if p.Warning {
				warnings = append(warnings, e)
			} else {
				errs = append(errs, e)
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stdout, "%s: warning: %s\n", l.Source.Position(w.Path), w)
	}
	if len(errs) > 0 {
		return l.Source.Locate(errs)
	}
	fmt.Fprintf(stdout, "%s: ok: %d routes, %d servers, %s, sticky %s\n", name, len(f.Routes), len(f.Servers), describeListeners(f.Listeners), f.Sticky.Mode)
	return nil
}

// describeListeners summarises the listeners: "listen ADDR" for a single
// plaintext one, as `listen` gives, else each address and what it speaks.
func describeListeners(ls []config.Listener) string {
	if len(ls) == 1 && ls[0] == (config.Listener{Address: ls[0].Address}) {
		return "listen " + ls[0].Address
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		var what []string
		if l.TLS != nil {
			what = append(what, "tls")
			if l.TLS.ACME != nil {
				what = append(what, "acme")
			}
		}
		if l.H2C {
			what = append(what, "h2c")
		}
		if l.RedirectHTTPS != 0 {
			what = append(what, fmt.Sprintf("redirect to https port %d", l.RedirectHTTPS))
		}
		parts[i] = l.Address
		if len(what) > 0 {
			parts[i] += " (" + strings.Join(what, ", ") + ")"
		}
	}
	return "listeners " + strings.Join(parts, ", ")
}
