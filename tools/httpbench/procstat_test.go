package main

import (
	"os"
	"slices"
	"testing"

	"l7lb/tools/procfs"
)

func TestTreeTicks(t *testing.T) {
	table := map[int]procfs.Stat{
		1:  {PID: 1},
		10: {PID: 10, PPID: 1, UTime: 5, STime: 1, CUTime: 100}, // nginx master
		11: {PID: 11, PPID: 10, UTime: 40, STime: 60},           // its worker
		12: {PID: 12, PPID: 11, UTime: 1, STime: 1},             // a grandchild
		20: {PID: 20, PPID: 1, UTime: 1000, STime: 1000},        // unrelated
	}
	total, user := treeTicks(table, 10)
	if total != 108 || user != 46 {
		t.Errorf("treeTicks = %d, %d; want 108 (children's cutime left out), 46", total, user)
	}
	if got := tree(table, 10); !slices.Equal(sorted(got), []int{10, 11, 12}) {
		t.Errorf("tree = %v", got)
	}
	if total, _ := treeTicks(table, 99); total != 0 {
		t.Errorf("a missing root counts %d, want 0", total)
	}
	if got := allTicks(table); got != 2208 {
		t.Errorf("allTicks = %d, want 2208 (cutime included)", got)
	}
}

func sorted(s []int) []int { s = slices.Clone(s); slices.Sort(s); return s }

func TestBusyTicks(t *testing.T) {
	stat := `cpu  900 90 900 9000 9 9 9 9 0 0
cpu0 100 10 200 5000 7 1 2 3 4 5
cpu1 300 20 400 4000 7 3 4 5 0 0
intr 12345
`
	// user nice system irq softirq steal of cpu0 and cpu1; not idle,
	// iowait, guest, nor the "cpu" total line.
	got, err := busyTicks(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(100 + 10 + 200 + 1 + 2 + 3 + 300 + 20 + 400 + 3 + 4 + 5); got != want {
		t.Errorf("busyTicks = %d, want %d", got, want)
	}
	if _, err := busyTicks("intr 1\n"); err == nil {
		t.Error("no cpuN line: want an error")
	}
}

func TestProcessTableHasSelf(t *testing.T) {
	table, err := processTable()
	if err != nil {
		t.Fatal(err) // the harness runs on Linux only
	}
	if _, ok := table[os.Getpid()]; !ok {
		t.Error("the test process is not in the table")
	}
}
