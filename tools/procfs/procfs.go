// Package procfs reads what the benchmark harnesses (tools/...) measure of
// a process from Linux's /proc: its CPU times and its peak memory. The
// machine is shared, so the harnesses count CPU time, not wall time.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of the times in /proc/PID/stat and
// /proc/stat: 100 on every Linux architecture (the kernel converts to it
// whatever its internal HZ), which is why getconf CLK_TCK prints 100.
const ClockTicks = 100

// Stat is what the harnesses read from one /proc/PID/stat line: the
// process's parent, and its CPU times in clock ticks (UTime and STime sum
// every thread, live or exited; CUTime and CSTime are its waited-for
// children's).
type Stat struct {
	PID, PPID                    int
	UTime, STime, CUTime, CSTime int64
}

// CPU is the process's own CPU time, user and system.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime) * time.Second / ClockTicks
}

// ParseStat parses a /proc/PID/stat line. The second field is the command
// name in parentheses, which may itself hold spaces and parentheses, so
// the fields after it are counted from its last closing parenthesis.
func ParseStat(line string) (Stat, error) {
	var s Stat
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
	s.PID = pid
	nums := [5]int64{}
	for i, field := range [5]int{4, 14, 15, 16, 17} {
		v, err := strconv.ParseInt(rest[field-3], 10, 64)
		if err != nil {
			return s, fmt.Errorf("stat line of pid %d: field %d: %v", pid, field, err)
		}
		nums[i] = v
	}
	s.PPID = int(nums[0])
	s.UTime, s.STime, s.CUTime, s.CSTime = nums[1], nums[2], nums[3], nums[4]
	return s, nil
}

// ReadStat reads and parses /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(string(b))
}

// PeakRSS is the peak resident set (VmHWM) of process pid, or of this
// process when pid is 0, in KiB; 0 where /proc does not say.
func PeakRSS(pid int) int64 {
	name := "/proc/self/status"
	if pid != 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	status, _ := os.ReadFile(name)
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}
