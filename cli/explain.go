package cli

import (
	"fmt"
	"io"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/jsonx"
)

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
	// The -H headers are the request's, read as every face reads them.
	view := &httpmsg.Headers{Fields: headers}
	// An absolute URL's host wins over the Host header, in the engine.
	req := engine.Request{Method: method, Target: target, Headers: view}
	req.Host, _ = view.Header("Host")
	var d engine.Decision
	var out map[string]any
	if _, err := httpmsg.RequestHost(target, req.Host); err != nil {
		// The proxy answers 400 before it asks the engine.
		out = map[string]any{"status": 400, "sticky": engine.StickyNone.String(), "error": err.Error()}
	} else {
		l.engine.Explain(&req, &d)
		out = d.Explanation()
	}
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
