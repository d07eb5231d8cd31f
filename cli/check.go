package cli

import (
	"fmt"
	"io"
	"os"

	"l7lb/router"
)

// check validates a serve configuration without serving: exit 0 and a
// summary, or exit 2 and every error with its field path and line. It also
// warns about routes that can never match.
func check(args []string, stdout, stderr io.Writer) int {
	fs, file := flags("check", stderr)
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *file == "" {
		fmt.Fprintln(stderr, "--config FILE is required")
		return exitConfig
	}
	data, err := os.ReadFile(*file)
	if err == nil {
		err = checkConfig(*file, data, stdout)
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
	l, err := compile(name, data, io.Discard)
	if err != nil {
		return err
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
			name, f.Routes[s.Index].Name, f.Routes[s.By].Name)
	}
	fmt.Fprintf(stdout, "%s: ok: %d routes, %d servers, listen %s, sticky %s\n", name, len(f.Routes), len(f.Servers), f.Listen, f.Sticky.Mode)
	return nil
}
