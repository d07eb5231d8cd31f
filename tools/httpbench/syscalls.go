package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// syscallCounter is a `perf stat` counting the system calls of a proxy
// (every process of its tree, every thread) while it runs.
type syscallCounter struct {
	cmd *exec.Cmd
	out string
}

func (b *bench) countSyscalls(root int) (*syscallCounter, error) {
	table, err := processTable()
	if err != nil {
		return nil, err
	}
	var pids []string
	for _, pid := range tree(table, root) {
		pids = append(pids, strconv.Itoa(pid))
	}
	c := &syscallCounter{out: filepath.Join(b.tmp, "perf-stat.csv")}
	c.cmd = exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-o", c.out, "-p", strings.Join(pids, ","))
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("-syscalls: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // attached before the load starts
	return c, nil
}

// stop ends the count and returns it, or -1 when there is none.
func (c *syscallCounter) stop() int64 {
	if c == nil {
		return -1
	}
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
	b, err := os.ReadFile(c.out)
	if err != nil {
		logf("-syscalls: %v", err)
		return -1
	}
	n, err := parsePerfStat(string(b), "raw_syscalls:sys_enter")
	if err != nil {
		logf("-syscalls: %v", err)
		return -1
	}
	return n
}

// parsePerfStat reads the count of event from `perf stat -x,` output:
// "302600,,raw_syscalls:sys_enter,4008499877,100.00,,".
func parsePerfStat(out, event string) (int64, error) {
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) < 3 || f[2] != event {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("perf stat: %s: count %q", event, f[0])
		}
		return n, nil
	}
	return 0, fmt.Errorf("perf stat output has no %s line", event)
}
