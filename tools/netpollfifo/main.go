// Command netpollfifo writes the build overlay with which l7lb's Makefile
// builds and tests: Go's runtime with its Linux poller handing over the
// goroutines of one epoll_wait in the order the kernel reported their
// sockets, rather than last first.
//
// netpoll (runtime/netpoll_epoll.go) pushes each goroutine it readies to
// the head of a list, and the scheduler runs the head and queues the rest
// in list order: of the connections that became readable together, the
// first waits for all the others. Under load with 50 keep-alive clients
// that ordering alone is most of the proxy's p99 above HAProxy's
// (docs/netpoll.md). The patch walks the events from the last to the
// first, so that pushing to the head leaves them in the kernel's order. It
// changes no other behaviour: Go promises no order among goroutines
// readied together.
//
// It prints the -overlay flag for the go command, or nothing, with a
// warning on stderr, when the toolchain's file is not one it knows how to
// patch (another Go version, another OS): the build is then a stock one,
// correct, with the longer tail.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The loop over epoll_wait's events in netpoll, and what it becomes.
const (
	forward  = "for i := int32(0); i < n; i++ {"
	backward = "for i := n - 1; i >= 0; i-- {"
)

// pollerFile is the runtime's epoll poller, relative to GOROOT.
const pollerFile = "src/runtime/netpoll_epoll.go"

func main() {
	dir := flag.String("dir", ".cache/netpollfifo", "directory for the patched file and the overlay (made absolute)")
	goCmd := flag.String("go", "go", "the go command whose toolchain is patched")
	flag.Parse()
	flagValue, err := write(*goCmd, *dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netpollfifo: %v; building with the stock runtime (longer tail under load, see docs/netpoll.md)\n", err)
		return
	}
	fmt.Println(flagValue)
}

// write patches goCmd's toolchain's poller into dir and returns the
// -overlay flag that builds with it.
func write(goCmd, dir string) (string, error) {
	out, err := exec.Command(goCmd, "env", "GOROOT", "GOVERSION", "GOOS").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %v", err)
	}
	env := strings.Fields(string(out))
	if len(env) != 3 {
		return "", fmt.Errorf("go env printed %q", out)
	}
	goroot, version, goos := env[0], env[1], env[2]
	if goos != "linux" {
		return "", fmt.Errorf("GOOS=%s: only Linux's epoll poller is patched", goos)
	}
	orig := filepath.Join(goroot, pollerFile)
	src, err := os.ReadFile(orig)
	if err != nil {
		return "", err
	}
	patched, err := patch(src)
	if err != nil {
		return "", fmt.Errorf("%s (%s): %v", orig, version, err)
	}
	dir, err = filepath.Abs(filepath.Join(dir, version))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, filepath.Base(pollerFile))
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {orig: file}})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := writeIfChanged(file, patched); err != nil {
		return "", err
	}
	if err := writeIfChanged(overlayFile, overlay); err != nil {
		return "", err
	}
	return "-overlay=" + overlayFile, nil
}

// patch reverses the one loop over epoll_wait's events in netpoll. It
// refuses a file where that loop is not found exactly once, inside netpoll.
func patch(src []byte) ([]byte, error) {
	if n := bytes.Count(src, []byte(forward)); n != 1 {
		return nil, fmt.Errorf("the events loop %q is there %d times, not once", forward, n)
	}
	fn := bytes.Index(src, []byte("\nfunc netpoll(delay int64) (gList, int32) {"))
	loop := bytes.Index(src, []byte(forward))
	if fn < 0 || loop < fn {
		return nil, errors.New("the events loop is not inside func netpoll(delay int64) (gList, int32)")
	}
	return bytes.Replace(src, []byte(forward), []byte(backward), 1), nil
}

// writeIfChanged writes data to name unless it holds data already: the go
// command's cache keys on the overlay's content, and a make that runs
// while another builds must not truncate the file under it.
func writeIfChanged(name string, data []byte) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := name + ".tmp" + fmt.Sprint(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
