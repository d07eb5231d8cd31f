package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"l7lb/tools/procfs"
)

// processTable reads /proc/PID/stat of every process. A process that exits
// while the directory is read is skipped.
func processTable() (map[int]procfs.Stat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	table := make(map[int]procfs.Stat, len(entries))
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s, err := procfs.ParseStat(string(b))
		if err != nil {
			return nil, err
		}
		table[s.PID] = s
	}
	return table, nil
}

// tree returns root and every process whose ancestry leads to it (nginx's
// worker under its master), root first.
func tree(table map[int]procfs.Stat, root int) []int {
	children := make(map[int][]int)
	for pid, s := range table {
		children[s.PPID] = append(children[s.PPID], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// treeTicks returns the CPU time (utime+stime) and the user part of root
// and its descendants, in clock ticks. A root that is not in the table
// counts zero.
func treeTicks(table map[int]procfs.Stat, root int) (total, user int64) {
	if _, ok := table[root]; !ok {
		return 0, 0
	}
	for _, pid := range tree(table, root) {
		s := table[pid]
		total += s.UTime + s.STime
		user += s.UTime
	}
	return total, user
}

// ownTicks is a process's CPU time with that of its waited-for children:
// the harness's own, once wrk or h2load has been reaped.
func ownTicks(s procfs.Stat) int64 { return s.UTime + s.STime + s.CUTime + s.CSTime }

// allTicks is the CPU time of every process on the machine with their
// reaped children's. Time of exited processes moves into their parent's
// cutime when they are reaped, so the sum keeps counting short-lived test
// processes. (Not /proc/stat: without IRQ time accounting, loopback softirq
// work is charged both to the task it ran in and to the softirq column, so
// "busy minus our processes" would count our own traffic as noise.)
func allTicks(table map[int]procfs.Stat) int64 {
	var n int64
	for _, s := range table {
		n += ownTicks(s)
	}
	return n
}

// busyTicks sums, over the per-CPU lines of /proc/stat, the ticks spent
// busy: user, nice, system, irq, softirq and steal (not idle, iowait, nor
// guest, which user already includes).
func busyTicks(procStatFile string) (int64, error) {
	var n int64
	found := false
	for line := range strings.Lines(procStatFile) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		found = true
		for _, i := range [6]int{1, 2, 3, 6, 7, 8} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat %s: column %d: %v", f[0], i, err)
			}
			n += v
		}
	}
	if !found {
		return 0, errors.New("/proc/stat: no cpuN line")
	}
	return n, nil
}

func readBusyTicks() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return busyTicks(string(b))
}
