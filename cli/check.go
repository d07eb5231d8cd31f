package cli

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/jsonx"
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
	l, err := load(*file, io.Discard)
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
			*file, f.Routes[s.Index].Name, f.Routes[s.By].Name)
	}
	fmt.Fprintf(stdout, "%s: ok: %d routes, %d servers, listen %s, sticky %s\n", *file, len(f.Routes), len(f.Servers), f.Listen, f.Sticky.Mode)
	return exitOK
}

// explain prints, as JSON, where a request would go, sending nothing.
func explain(args []string, stdout, stderr io.Writer) int {
	fs, file := flags("explain", stderr)
	var headers headerFlags
	fs.Var(&headers, "H", "a request header `'Name: value'` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: l7lb explain --config FILE [-H 'Name: value']... METHOD URL")
		return exitConfig
	}
	method, target := fs.Arg(0), fs.Arg(1)
	l, err := load(*file, io.Discard)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	req := engine.Request{Method: method, Target: target, Headers: &headers}
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		req.Host = u.Host
	} else if h, ok := headers.Header("Host"); ok {
		req.Host = h
	}
	var d engine.Decision
	l.engine.Explain(&req, &d)
	out := d.Explanation()
	if d.Status == 200 && !d.HasRewrite {
		out["path"] = d.Upstream // the target the server would get
	}
	b, err := jsonx.AppendValue(nil, out)
	if err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

// The -H headers serve as the explained request's headers.

func (h *headerFlags) HasHeader(name, value string) bool {
	for _, f := range *h {
		if strings.EqualFold(f[0], name) && f[1] == value {
			return true
		}
	}
	return false
}

func (h *headerFlags) Header(name string) (string, bool) {
	for _, f := range *h {
		if strings.EqualFold(f[0], name) {
			return f[1], true
		}
	}
	return "", false
}

func (h *headerFlags) Cookie(name string) (string, bool) {
	for _, f := range *h {
		if strings.EqualFold(f[0], "Cookie") {
			if v, ok := httpmsg.CookieValue(f[1], name); ok {
				return v, true
			}
		}
	}
	return "", false
}

func (h *headerFlags) HasCookies() bool {
	_, ok := h.Header("Cookie")
	return ok
}
