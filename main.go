// Command l7lb is an HTTP-aware (layer 7) load balancer. Run without a
// command, it is a Maelstrom node: JSON messages on stdin, replies on
// stdout; `l7lb serve` is the HTTP reverse proxy. `l7lb help` lists the
// commands.
package main

import (
	"os"

	"l7lb/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
