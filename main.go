// Command l7lb is an HTTP-aware (layer 7) load balancer. Run without a
// command, it is a Maelstrom node: JSON messages on stdin, replies on stdout.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/lbnode"
	"l7lb/maelstrom"
)

func main() {
	os.Exit(runNode(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// runNode runs the Maelstrom node until its input ends.
func runNode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("l7lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "configuration `file` (YAML or JSON) to start with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	eng := engine.New(func(msg string) { fmt.Fprintln(stderr, "l7lb:", msg) })
	if *configFile != "" {
		f, src, err := config.ReadFile(*configFile, false)
		if err == nil {
			if err = eng.Load(&f.Config); err != nil {
				err = src.Locate(err)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	node := maelstrom.NewNode(stdin, stdout, stderr)
	lbnode.Register(node, eng)
	if err := node.Run(); err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return 1
	}
	return 0
}
