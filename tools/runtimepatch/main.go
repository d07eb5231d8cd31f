// Command runtimepatch writes the build overlay with which l7lb's Makefile
// builds and tests: Go's runtime with two small changes for a proxy that
// runs on one core (docs/runtime.md has the measurements).
//
//   - netpoll order. netpoll (runtime/netpoll_epoll.go) pushes each
//     goroutine it readies to the head of a list, and the scheduler runs
//     the head and queues the rest in list order: of the connections that
//     became readable together, the first waits for all the others. Under
//     load with 50 keep-alive clients that ordering alone is most of the
//     proxy's p99 above HAProxy's. The patch walks the events from the
//     last to the first, so that pushing to the head leaves them in the
//     kernel's order. Go promises no order among goroutines readied
//     together.
//   - sysmon's pace. When every P is idle, sysmon (runtime/proc.go) sleeps
//     until a goroutine enters a system call, and then starts over polling
//     every 20 µs, taking the P from any system call it sees in two polls
//     in a row. A proxy between bursts of requests is idle many times a
//     second: each burst then woke sysmon for ~50 polls on the proxy's own
//     core and handed the P to another thread during ordinary socket
//     writes (at 10,000 HTTP/2 requests/s, 0.8 context switches per
//     request and a p99 of 25–470 ms where HAProxy's is 1–2.5 ms). The
//     patch lets sysmon keep the pace it had before it slept: a system
//     call that really blocks is still taken from within ~10 ms, as after
//     any quiet stretch.
//
// It prints the -overlay flag for the go command and an -ldflags that
// names the patches in the binary (`l7lb version`), or nothing, with a
// warning on stderr, when a toolchain file is not one it knows how to
// patch (another Go version, another OS): the build is then a stock one,
// correct, with the longer tail.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A filePatch replaces text that must be in a runtime file exactly once,
// inside one function.
type filePatch struct {
	name     string // as buildinfo reports it
	file     string // relative to GOROOT
	fn       string // the function's first line
	old, new string
}

// The loop over epoll_wait's events in netpoll, and what it becomes.
const (
	forward  = "for i := int32(0); i < n; i++ {"
	backward = "for i := n - 1; i >= 0; i-- {"
)

// sysmon's restart at full pace after a deep sleep ended by a system
// call, and what replaces it.
const (
	sysmonRestart = "if syscallWake {\n\t\t\t\t\tidle = 0\n\t\t\t\t\tdelay = 20\n\t\t\t\t}"
	sysmonKeep    = "_ = syscallWake // l7lb: keep the pace of before the sleep (tools/runtimepatch)"
)

var patches = []filePatch{
	{name: "netpoll-fifo", file: "src/runtime/netpoll_epoll.go", fn: "func netpoll(delay int64) (gList, int32) {", old: forward, new: backward},
	{name: "sysmon-pace", file: "src/runtime/proc.go", fn: "func sysmon() {", old: sysmonRestart, new: sysmonKeep},
}

func main() {
	dir := flag.String("dir", ".cache/runtimepatch", "directory for the patched files and the overlay (made absolute)")
	goCmd := flag.String("go", "go", "the go command whose toolchain is patched")
	flag.Parse()
	flagValue, err := write(*goCmd, *dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runtimepatch: %v; building with the stock runtime (longer tail under load, see docs/runtime.md)\n", err)
		return
	}
	fmt.Println(flagValue, stampFlag())
}

// stampFlag is the -ldflags that names the patches in the binary's build
// information (package buildinfo: `l7lb version`, /stats, /metrics), so
// that a patched build can be told from a stock one. The names hold no
// spaces: GOFLAGS splits at them.
func stampFlag() string {
	names := make([]string, len(patches))
	for i, p := range patches {
		names[i] = p.name
	}
	return "-ldflags=-X=l7lb/buildinfo.runtimePatches=" + strings.Join(names, ",")
}

// write patches goCmd's toolchain's files into dir and returns the
// -overlay flag that builds with them.
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
	dir, err = filepath.Abs(filepath.Join(dir, version))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	replace := map[string]string{}
	for _, p := range patches {
		orig := filepath.Join(goroot, p.file)
		src, err := os.ReadFile(orig)
		if err != nil {
			return "", err
		}
		patched, err := p.apply(src)
		if err != nil {
			return "", fmt.Errorf("%s (%s): %v", orig, version, err)
		}
		file := filepath.Join(dir, filepath.Base(p.file))
		if err := writeIfChanged(file, patched); err != nil {
			return "", err
		}
		replace[orig] = file
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": replace})
	if err != nil {
		return "", err
	}
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := writeIfChanged(overlayFile, overlay); err != nil {
		return "", err
	}
	return "-overlay=" + overlayFile, nil
}

// apply replaces p.old with p.new in src. It refuses a file where p.old is
// not found exactly once, or not inside the function p.fn.
func (p filePatch) apply(src []byte) ([]byte, error) {
	if n := bytes.Count(src, []byte(p.old)); n != 1 {
		return nil, fmt.Errorf("%q is there %d times, not once", p.old, n)
	}
	at := bytes.Index(src, []byte(p.old))
	fn := bytes.Index(src, []byte("\n"+p.fn+"\n"))
	if fn < 0 || at < fn {
		return nil, fmt.Errorf("%q is not inside %s", p.old, p.fn)
	}
	if next := bytes.Index(src[fn+1:], []byte("\nfunc ")); next >= 0 && fn+1+next < at {
		return nil, fmt.Errorf("%q is not inside %s", p.old, p.fn)
	}
	return bytes.Replace(src, []byte(p.old), []byte(p.new), 1), nil
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
