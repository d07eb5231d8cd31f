package cli

import (
	"flag"
	"fmt"
	"io"

	"l7lb/engine"
	"l7lb/httpmsg"
	"l7lb/jsonx"
)

var explainCommand = &command{
	name:    "explain",
	summary: "print where a request would go, sending nothing",
	doc: `Print, as one line of JSON, where a request would go under a serve
configuration: status, route, servers, the server chosen, the path it would
get, stickiness. Nothing is sent, no counter moves, nothing is pinned. URL
is a path or an absolute URL, whose host wins over a Host header.`,
	required: []string{"config"},
	args:     []string{"METHOD", "URL"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		var headers headerFlags
		fs.Var(&headers, "H", "a request header, `'Name: value'`; repeatable")
		return func(c *call) int {
			return explain(*file, headers, c.args[0], c.args[1], c.stdin, c.stdout, c.stderr)
		}
	},
}

// explain prints, as JSON, where a request would go, sending nothing.
func explain(file string, headers headerFlags, method, target string, stdin io.Reader, stdout, stderr io.Writer) int {
	l, err := load(file, stdin)
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
		l.Engine.Explain(&req, &d)
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
