// Command sysmon connects to the address it is given and, for each byte it
// reads there, makes 5 ms of short system calls; at the end of the
// stream it prints how many times its threads gave up the processor in
// between. Waiting for the next byte, its one P is idle and sysmon sleeps
// deeply; the system calls after it wake sysmon, which in the stock
// runtime then polls every 20 µs through each burst.
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fail(err)
	}
	fd, b := int(null.Fd()), []byte{1}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fail(err)
	}
	before := -1
	for buf := make([]byte, 1); ; {
		if _, err := c.Read(buf); err != nil {
			break
		}
		if before < 0 {
			before = switches()
		}
		for end := time.Now().Add(5 * time.Millisecond); time.Now().Before(end); {
			syscall.Write(fd, b)
		}
	}
	fmt.Println(switches() - before)
}

// switches sums the voluntary context switches of the process's threads.
func switches() int {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		fail(err)
	}
	n := 0
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that ended
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.Atoi(strings.TrimSpace(v))
				n += k
			}
		}
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
