package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/buildinfo"
	"l7lb/config"
	"l7lb/fleet"
	"l7lb/instance"
	"l7lb/metrics"
	"l7lb/upgrade"
)

var serveCommand = &command{
	name:    "serve",
	summary: "run the HTTP reverse proxy",
	doc: `Run the HTTP reverse proxy on the configuration's listeners (HTTP/1.1,
HTTP/2, TLS, as each says) and its admin listener, when configured, until
SIGINT or SIGTERM, which let in-flight requests finish (HTTP/2 clients get
GOAWAY). SIGHUP reloads the configuration file (a bad one is reported and
changes nothing); SIGUSR2 upgrades: the binary at this process's path
starts with the listening sockets and, once it serves, this process stops
accepting and drains; SIGUSR1 reopens the access log file (logrotate). The
first line on stderr is the build, as l7lb version prints it. The access
log is the configuration's access_log (text lines on stdout by default);
the admin listener serves /metrics.

With --upgrade, serve starts nothing: it checks the configuration, sends
SIGUSR2 to the process whose id --pid-file holds, and waits until a new
process has written its id there (exit 0) or the old one reports that the
upgrade failed (exit 1).`,
	required: []string{"config"},
	setup: func(fs *flag.FlagSet) func(*call) int {
		file := configFlag(fs)
		accessLog := fs.Bool("access-log", true, "write the access log the configuration's access_log describes (false: none, whatever it says)")
		watch := fs.Bool("watch", false, "reload when the configuration file, or a file it names, changes")
		pidFile := fs.String("pid-file", "", "write the process id to `FILE` once serving (and remove it at exit)")
		up := fs.Bool("upgrade", false, "upgrade the running instance --pid-file names, then exit")
		return func(c *call) int {
			if *up {
				return upgradeRunning(*file, *pidFile, c)
			}
			return serve(*file, *accessLog, *watch, *pidFile, c.stdin, c.stdout, c.stderr)
		}
	},
}

// serve runs the HTTP reverse proxy until SIGINT or SIGTERM, or until it
// has handed over to a new process.
func serve(file string, accessLog, watch bool, pidFile string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintf(stderr, "l7lb: %s\n", buildinfo.Get())
	sigs := instance.Signals()
	inherited, err := upgrade.Inherit()
	if err != nil {
		fmt.Fprintln(stderr, "l7lb: upgrade:", err)
		return exitFailed
	}
	if inherited != nil {
		fmt.Fprintf(stderr, "l7lb: started by an upgrade: taking over the listeners of process %d\n", os.Getppid())
	}
	var logw io.Writer
	if accessLog {
		logw = stdout
	}
	m := metrics.New()
	o := instance.Options{Config: file, Stdin: stdin, AccessLog: logw, Stderr: stderr,
		Metrics: m, Observer: m, Env: instance.ProcessEnv(), Inherited: inherited}
	var agent *fleet.Agent
	var start *fleet.Start
	if file != "-" {
		f, _, err := config.ReadFile(file, true)
		if err == nil && f.Fleet != nil {
			logf := func(format string, args ...any) { fmt.Fprintf(stderr, "l7lb: "+format+"\n", args...) }
			agent, start, err = fleet.New(fleet.Options{Fleet: f.Fleet, Version: buildinfo.Get().Version, Logf: logf})
			if err != nil {
				fmt.Fprintln(stderr, "l7lb:", err)
				return exitFailed
			}
			defer agent.Close()
			o.Shared = &start.Shared
			o.Env.StickySecret, o.Env.Random = start.Secret, false
		}
	}
	in, err := instance.Start(o)
	var loc *config.Located
	if err != nil && agent != nil && !start.FromCache && errors.As(err, &loc) {
		// etcd's shared configuration does not apply here: the last
		// good one, from the cache, if there is one.
		if st, ferr := agent.Fallback(err); ferr == nil {
			o.Shared = &st.Shared
			in, err = instance.Start(o)
		}
	}
	if err != nil {
		return startError(err, stderr)
	}
	fmt.Fprintf(stderr, "l7lb: configuration revision %s\n", in.Revision())
	fmt.Fprintf(stderr, "l7lb: serving on %s\n", strings.Join(in.Addrs(), ", "))
	if agent != nil {
		agent.Run(in, strings.Join(in.Addrs(), ","))
	}
	if err := in.Run(instance.RunOptions{Watch: watch, PIDFile: pidFile, Signals: sigs}); err != nil {
		fmt.Fprintln(stderr, "l7lb:", err)
		return exitFailed
	}
	return exitOK
}

// startError reports why serve could not start: a configuration error
// (exit 2) or a runtime failure such as an address in use (exit 1).
func startError(err error, stderr io.Writer) int {
	var loc *config.Located
	if errors.As(err, &loc) {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	fmt.Fprintln(stderr, "l7lb:", err)
	var le *instance.ListenError
	if errors.As(err, &le) {
		return exitFailed
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return exitConfig // the configuration file cannot be read
	}
	return exitFailed
}

// upgradeWait bounds how long serve --upgrade waits for the new process.
const upgradeWait = 90 * time.Second

// upgradeRunning is serve --upgrade: it checks the configuration with this
// binary, signals the instance that --pid-file names, and waits for the
// outcome: a new process id in the file (ready), or the same id written
// anew (the old process reports the upgrade failed).
func upgradeRunning(file, pidFile string, c *call) int {
	if pidFile == "" {
		return c.usageError("--upgrade needs --pid-file, the file of the running instance")
	}
	name, data, err := readConfig(file, c.stdin)
	if err == nil {
		_, err = instance.Compile(dirOf(file), name, data, instance.ProcessEnv())
	}
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitConfig
	}
	pid, before, err := readPID(pidFile)
	if err != nil {
		fmt.Fprintln(c.stderr, "l7lb:", err)
		return exitFailed
	}
	if err := syscall.Kill(pid, syscall.SIGUSR2); err != nil {
		fmt.Fprintf(c.stderr, "l7lb: signalling process %d (from %s): %v\n", pid, pidFile, err)
		return exitFailed
	}
	deadline := time.Now().Add(upgradeWait)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		now, st, err := readPID(pidFile)
		if err != nil || os.SameFile(st, before) {
			continue
		}
		if now == pid {
			fmt.Fprintf(c.stderr, "l7lb: upgrade failed: process %d goes on serving; its log says why\n", pid)
			return exitFailed
		}
		fmt.Fprintf(c.stdout, "l7lb: upgraded: process %d serves; process %d drains and exits\n", now, pid)
		return exitOK
	}
	fmt.Fprintf(c.stderr, "l7lb: no outcome after %v: see the log of process %d\n", upgradeWait, pid)
	return exitFailed
}

// readPID reads a pid file.
func readPID(name string) (int, os.FileInfo, error) {
	st, err := os.Stat(name)
	if err != nil {
		return 0, nil, err
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, nil, fmt.Errorf("%s: not a process id: %q", name, strings.TrimSpace(string(b)))
	}
	return pid, st, nil
}

// dirOf is the directory relative file names of a configuration are taken
// from: the file's, or the working directory for standard input.
func dirOf(file string) string {
	if file == "-" {
		return "."
	}
	return filepath.Dir(file)
}

// compile is the configuration path of check and explain: see
// instance.Compile. The admin token may come from the environment, as
// serve's does.
func compile(name string, data []byte) (*instance.Compiled, error) {
	dir := "."
	if name != stdinName {
		dir = dirOf(name)
	}
	return instance.Compile(dir, name, data, checkEnv())
}

// compileFleet is compile for a fleet instance's file and shared document.
func compileFleet(dir string, local []byte, shared config.Document) (*instance.Compiled, error) {
	return instance.CompileFleet(dir, "<local>", local, shared, checkEnv())
}

func checkEnv() instance.Env {
	return instance.Env{NodeID: "l7lb", AdminToken: os.Getenv("L7LB_ADMIN_TOKEN")}
}

// load reads a configuration (from stdin when name is "-") and compiles it.
func load(name string, stdin io.Reader) (*instance.Compiled, error) {
	name, data, err := readConfig(name, stdin)
	if err != nil {
		return nil, err
	}
	return compile(name, data)
}
