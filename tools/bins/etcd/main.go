// Command etcd is the etcd server of go.etcd.io/etcd/server/v3, built here
// under the name "etcd" for the fleet tests (package testbin).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
