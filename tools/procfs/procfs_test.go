package procfs

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, line string
		want       Stat
	}{
		{
			name: "plain",
			line: "1234 (nginx) S 1200 1234 1234 0 -1 4194560 100 0 0 0 250 75 3 4 20 0 1 0 500 1000 200 18446744073709551615",
			want: Stat{PID: 1234, PPID: 1200, UTime: 250, STime: 75, CUTime: 3, CSTime: 4},
		},
		{
			// A command name may hold spaces and parentheses: fields
			// are counted from its last ')'.
			name: "comm with spaces and parens",
			line: "77 (a) b (c d)) R 1 77 77 0 -1 0 0 0 0 0 11 22 33 44 20 0 1 0 1 1 1",
			want: Stat{PID: 77, PPID: 1, UTime: 11, STime: 22, CUTime: 33, CSTime: 44},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(tt.line)
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
		if s, err := ParseStat(line); err == nil {
			t.Errorf("ParseStat(%q) = %+v, want an error", line, s)
		}
	}
}

func TestSelf(t *testing.T) {
	s, err := ReadStat(os.Getpid())
	if err != nil || s.PID != os.Getpid() || s.PPID != os.Getppid() {
		t.Errorf("ReadStat(self) = %+v, %v", s, err)
	}
	if PeakRSS(0) <= 0 || PeakRSS(os.Getpid()) <= 0 {
		t.Errorf("PeakRSS: %d, %d KiB", PeakRSS(0), PeakRSS(os.Getpid()))
	}
}
