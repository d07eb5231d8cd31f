package cli

import (
	"os"
	"syscall"
)

// pipeSize is the buffer the node asks for on a stdin or stdout that is a
// pipe: 1 MiB, the most an unprivileged process may set by default
// (/proc/sys/fs/pipe-max-size). With Linux's default of 64 KiB, a node
// streaming a million messages a second spends about a fifth of its time
// waking, and waiting for, the processes at the other ends.
const pipeSize = 1 << 20

// fSetPipeSize is F_SETPIPE_SZ, which the syscall package does not name.
const fSetPipeSize = 1031

// growPipe enlarges the buffer of f when it is a pipe. Failing is harmless:
// the pipe keeps its size.
func growPipe(f any) {
	file, ok := f.(*os.File)
	if !ok {
		return
	}
	if fi, err := file.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return
	}
	// SyscallConn, unlike Fd, leaves the file in non-blocking mode.
	if rc, err := file.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, pipeSize)
		})
	}
}
