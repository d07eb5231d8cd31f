package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat and
// /proc/stat: 100 on every Linux architecture (the kernel converts to it
// whatever its internal HZ), which is why getconf CLK_TCK prints 100.
const clockTicks = 100

// procStat is what the harness reads from one /proc/PID/stat line: the
// process's parent, and its CPU times in clock ticks (utime and stime sum
// every thread, live or exited; cutime and cstime are its waited-for
// children's).
type procStat struct {
	pid, ppid                    int
	utime, stime, cutime, cstime int64
}

// parseStat parses a /proc/PID/stat line. The second field is the command
// name in parentheses, which may itself hold spaces and parentheses, so
// the fields after it are counted from its last closing parenthesis.
func parseStat(line string) (procStat, error) {
	var s procStat
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 1 || closing < open {
		return s, fmt.Errorf("stat line %.40q: no (comm) field", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return s, fmt.Errorf("stat line %.40q: pid: %v", line, err)
	}
	// Fields from 3 (state) on; field N is rest[N-3].
	rest := strings.Fields(line[closing+1:])
	if len(rest) < 14 {
		return s, fmt.Errorf("stat line of pid %d: %d fields after comm, want at least 14", pid, len(rest))
	}
	s.pid = pid
	nums := [5]int64{}
	for i, field := range [5]int{4, 14, 15, 16, 17} {
		v, err := strconv.ParseInt(rest[field-3], 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat line of pid %d: field %d: %v", pid, field, err)
		}
		nums[i] = v
	}
	s.ppid = int(nums[0])
	s.utime, s.stime, s.cutime, s.cstime = nums[1], nums[2], nums[3], nums[4]
	return s, nil
}

// processTable reads /proc/PID/stat of every process. A process that exits
// while the directory is read is skipped.
func processTable() (map[int]procStat, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	table := make(map[int]procStat, len(entries))
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s, err := parseStat(string(b))
		if err != nil {
			return nil, err
		}
		table[s.pid] = s
	}
	return table, nil
}

// tree returns root and every process whose ancestry leads to it (nginx's
// worker under its master), root first.
func tree(table map[int]procStat, root int) []int {
	children := make(map[int][]int)
	for pid, s := range table {
		children[s.ppid] = append(children[s.ppid], pid)
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
func treeTicks(table map[int]procStat, root int) (total, user int64) {
	if _, ok := table[root]; !ok {
		return 0, 0
	}
	for _, pid := range tree(table, root) {
		s := table[pid]
		total += s.utime + s.stime
		user += s.utime
	}
	return total, user
}

// ownTicks is a process's CPU time with that of its waited-for children:
// the harness's own, once wrk or h2load has been reaped.
func ownTicks(s procStat) int64 { return s.utime + s.stime + s.cutime + s.cstime }

// allTicks is the CPU time of every process on the machine with their
// reaped children's. Time of exited processes moves into their parent's
// cutime when they are reaped, so the sum keeps counting short-lived test
// processes. (Not /proc/stat: without IRQ time accounting, loopback softirq
// work is charged both to the task it ran in and to the softirq column, so
// "busy minus our processes" would count our own traffic as noise.)
func allTicks(table map[int]procStat) int64 {
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
