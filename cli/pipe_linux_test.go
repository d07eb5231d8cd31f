package cli

import (
	"os"
	"syscall"
	"testing"
)

// pipeBuffer returns the buffer size of the pipe f (F_GETPIPE_SZ).
func pipeBuffer(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size uintptr
	var errno syscall.Errno
	rc.Control(func(fd uintptr) {
		size, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize+1, 0)
	})
	if errno != 0 {
		t.Fatalf("F_GETPIPE_SZ: %v", errno)
	}
	return int(size)
}

func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := pipeBuffer(t, r); got >= pipeSize {
		t.Fatalf("a new pipe already holds %d bytes: the test proves nothing", got)
	}
	growPipe(r)
	if got := pipeBuffer(t, w); got != pipeSize {
		t.Errorf("after growPipe the pipe holds %d bytes, want %d", got, pipeSize)
	}
	// Anything else is left alone, without a panic.
	growPipe(os.NewFile(^uintptr(0), "closed"))
	growPipe(nil)
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	growPipe(f)
}
