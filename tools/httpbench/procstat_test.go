package main

import (
	"os"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, line string
		want       procStat
	}{
		{
			name: "plain",
			line: "1234 (nginx) S 1200 1234 1234 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 500 1000 200 18446744073709551615",
			want: procStat{pid: 1234, ppid: 1200, utime: 250, stime: 75, cutime: 3, cstime: 4},
		},
		{
			// A command name may hold spaces and parentheses: fields
			// are counted from its last ')'.
			name: "comm with spaces and parens",
			line: "77 (a) b (c d)) R 1 77 77 0 -1 0 0 0 0 0 11 22 33 44 20 0 1 0 1 1 1",
			want: procStat{pid: 77, ppid: 1, utime: 11, stime: 22, cutime: 33, cstime: 44},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseStatErrors(t *testing.T) {
	for _, line := range []string{
		"",
		"12 nginx S 1", // no parentheses
		"x (nginx) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14", // pid not a number
		"12 (nginx) S 1 2 3",                           // too few fields
		"12 (nginx) S 1 2 3 4 5 6 7 8 9 10 x 12 13 14", // utime not a number
	} {
		if s, err := parseStat(line); err == nil {
			t.Errorf("parseStat(%q) = %+v, want an error", line, s)
		}
	}
}

func TestTreeTicks(t *testing.T) {
	table := map[int]procStat{
		1:  {pid: 1},
		10: {pid: 10, ppid: 1, utime: 5, stime: 1, cutime: 100}, // nginx master
		11: {pid: 11, ppid: 10, utime: 40, stime: 60},           // its worker
		12: {pid: 12, ppid: 11, utime: 1, stime: 1},             // a grandchild
		20: {pid: 20, ppid: 1, utime: 1000, stime: 1000},        // unrelated
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
