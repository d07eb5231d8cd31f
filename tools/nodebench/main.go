// Command nodebench streams a large, deterministic mix of http_request
// messages through the l7lb node binary and reports throughput, CPU per
// request and peak RSS of the child process.
//
//	go run ./tools/nodebench -bin ./l7lb -n 1000000
//
// The stream is generated before the child starts (into a temporary file, see
// selfRSS), so generation is not measured; a goroutine copies it into the
// child's stdin pipe. The child runs with GOMAXPROCS=1, pinned to CPU 0 with
// taskset when -pin is set (the default on Linux when taskset exists);
// nodebench then keeps its own threads off CPU 0. Every reply is checked, and
// nodebench exits 1 when the child fails, times out, misses replies or answers
// anything but status 200.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"l7lb/tools/procfs"
	"l7lb/tools/stats"
)

// configBody is the body of the config message sent after init: host rules
// (exact, wildcard), path rules (segment prefix, plain prefix, in-segment
// glob, regex), the three rewrite kinds, weighted round robin, hash on a
// header, and global stickiness in mode auto with the default max_sessions.
const configBody = `{
  "type": "config", "msg_id": 2,
  "routes": [
    {"name": "shop", "host": "shop.example.com", "servers": ["s1", "s2", "s3"],
     "balance": "weighted_round_robin", "weights": {"s1": 5, "s2": 2, "s3": 1}},
    {"name": "tenants", "host": "*.example.com", "servers": ["s4", "s5", "s6"],
     "balance": "hash", "hash_on": "header:X-User"},
    {"name": "api", "path": "/api/*", "servers": ["s1", "s2"]},
    {"name": "static", "path": "/static/", "servers": ["s3"]},
    {"name": "thumbs", "path": "/img/v*/thumb", "servers": ["s4", "s5"]},
    {"name": "blog", "path": "~^/blog/[0-9]{4}/[a-z0-9-]+$", "servers": ["s6"]},
    {"name": "app", "path": "/app/*", "servers": ["s1", "s2", "s3", "s4", "s5", "s6"]},
    {"name": "legacy", "path": "/old/*", "servers": ["s2", "s3"],
     "rewrite": {"strip_prefix": "/old"}},
    {"name": "v1", "path": "/v1/*", "servers": ["s3", "s4"],
     "rewrite": {"replace_prefix": {"from": "/v1", "to": "/v2"}}},
    {"name": "users", "path": "/u/*", "servers": ["s5", "s6"],
     "rewrite": {"regex": {"pattern": "^/u/([0-9]+)$", "replacement": "/users/$1"}}}
  ],
  "sticky": {"mode": "auto"}
}`

const (
	initLine   = `{"src":"c1","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb","s1","s2","s3","s4","s5","s6"]}}` + "\n"
	setupMsgs  = 2 // init and config precede the requests
	sessions   = 100000
	firstReqID = setupMsgs + 1
)

// configLine returns the config message as one compact line.
func configLine() []byte {
	var b bytes.Buffer
	b.WriteString(`{"src":"c1","dest":"lb","body":`)
	if err := json.Compact(&b, []byte(configBody)); err != nil {
		panic(err)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// generate writes the whole input stream to w: init, config, then n
// requests with msg_ids 3..n+2, mixed deterministically from seed: ~40% plain
// path requests, ~20% host-routed, ~25% sticky (100,000 sessions), ~15%
// rewrites with a query string.
func generate(w io.Writer, n int, seed int64) error {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, 0, 1<<16)
	b = append(b, initLine...)
	b = append(b, configLine()...)
	for i := range n {
		if len(b) > 1<<16-512 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
		b = append(b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":`...)
		b = strconv.AppendInt(b, int64(firstReqID+i), 10)
		k := r.Intn(100)
		switch {
		case k < 40: // plain path rules and the default servers
			if r.Intn(4) == 0 {
				b = append(b, `,"method":"POST"`...)
			}
			b = append(b, `,"path":"`...)
			m := r.Intn(1000)
			switch r.Intn(7) {
			case 0:
				b = append(b, "/api/users/"...)
				b = strconv.AppendInt(b, int64(m), 10)
			case 1:
				b = append(b, "/api/orders"...)
			case 2:
				b = append(b, "/static/js/app-"...)
				b = strconv.AppendInt(b, int64(m), 10)
				b = append(b, ".js"...)
			case 3:
				b = append(b, "/img/v"...)
				b = strconv.AppendInt(b, int64(m%5), 10)
				b = append(b, "/thumb"...)
			case 4:
				b = append(b, "/blog/2024/post-"...)
				b = strconv.AppendInt(b, int64(m), 10)
			case 5:
				b = append(b, "/"...)
			default:
				b = append(b, "/about/team"...)
			}
			b = append(b, '"')
		case k < 60: // host rules
			if r.Intn(2) == 0 {
				b = append(b, `,"path":"/cart","headers":{"Host":"shop.example.com"}`...)
			} else {
				b = append(b, `,"path":"/home","headers":{"Host":"t`...)
				b = strconv.AppendInt(b, int64(r.Intn(50)), 10)
				b = append(b, `.example.com","X-User":"user`...)
				b = strconv.AppendInt(b, int64(r.Intn(10000)), 10)
				b = append(b, `"}`...)
			}
		case k < 85: // sticky sessions
			b = append(b, `,"path":"/app/page","cookies":{"session_id":"u`...)
			b = strconv.AppendInt(b, int64(r.Intn(sessions)), 10)
			b = append(b, `"}`...)
		default: // rewrites, with a query string
			m := int64(r.Intn(100000))
			switch r.Intn(3) {
			case 0:
				b = append(b, `,"path":"/old/items/`...)
			case 1:
				b = append(b, `,"path":"/v1/items/`...)
			default:
				b = append(b, `,"path":"/u/`...)
			}
			b = strconv.AppendInt(b, m, 10)
			b = append(b, `?a=1&b=2"`...)
		}
		b = append(b, "}}\n"...)
	}
	_, err := w.Write(b)
	return err
}

type result struct {
	replies   int
	wall      time.Duration
	cpu       time.Duration // child user + sys
	user, sys time.Duration
	rssKiB    int64          // child's ru_maxrss
	floorKiB  int64          // nodebench's own VmHWM when it started the child
	errors    map[string]int // kind → count
	sample    string         // first offending reply
}

func (r *result) nerr() (n int) {
	for _, c := range r.errors {
		n += c
	}
	return n
}

func (r *result) bad(kind string, line []byte) {
	r.errors[kind]++
	if r.sample == "" {
		r.sample = string(line)
	}
}

// tail keeps the last bytes written to it (the child's stderr).
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

// run starts the binary once, feeds it the stream file and checks the replies:
// one per message, in_reply_to increasing over exactly 1..n+2, init_ok and
// config_ok first, then http_response with status 200.
func run(bin, stream string, n int, pin bool, timeout time.Duration) (*result, error) {
	f, err := os.Open(stream)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{bin}
	if pin {
		args = []string{"taskset", "-c", "0", bin}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var stderr tail
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// nodebench's own peak RSS: Go starts children with vfork, and at exec
	// Linux counts the parent's peak RSS into the child's ru_maxrss. So
	// nodebench streams from a file instead of holding the stream in
	// memory, and says so when the child's figure may be only this floor.
	floor := procfs.PeakRSS(0)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %v", bin, err)
	}
	go func() {
		io.Copy(stdin, f) // an early exit of the child shows as missing replies
		stdin.Close()
	}()

	res := &result{errors: map[string]int{}, floorKiB: floor}
	want := n + setupMsgs
	prev := int64(0)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		res.replies++
		id, ok := intField(line, `"in_reply_to":`)
		switch {
		case !ok:
			res.bad("no in_reply_to", line)
			continue
		case id <= prev || id > int64(want):
			res.bad("in_reply_to out of order", line)
		}
		prev = max(prev, id)
		typ := strField(line, `"type":"`)
		switch {
		case id == 1 && typ != "init_ok", id == 2 && typ != "config_ok":
			res.bad("setup rejected", line)
		case id < firstReqID:
		case typ != "http_response":
			res.bad("reply type "+typ, line)
		default:
			if st, _ := intField(line, `"status":`); st != 200 {
				res.bad("status "+strconv.FormatInt(st, 10), line)
			}
		}
	}
	scanErr := sc.Err()
	if scanErr != nil {
		io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	res.wall = time.Since(start)
	if st := cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			res.user = time.Duration(ru.Utime.Nano())
			res.sys = time.Duration(ru.Stime.Nano())
			res.cpu = res.user + res.sys
			res.rssKiB = ru.Maxrss
			if runtime.GOOS == "darwin" { // bytes there, KiB on Linux
				res.rssKiB /= 1024
			}
		}
	}
	errTail := ""
	if s := strings.TrimSpace(string(stderr.b)); s != "" {
		errTail = "\nchild stderr (tail):\n" + s
	}
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("timed out after %v with %d of %d replies%s", timeout, res.replies, want, errTail)
	case waitErr != nil:
		return res, fmt.Errorf("%s failed: %v (%d of %d replies)%s", bin, waitErr, res.replies, want, errTail)
	case scanErr != nil:
		return res, fmt.Errorf("reading replies: %v", scanErr)
	case res.replies != want:
		return res, fmt.Errorf("%d replies for %d messages (%d missing)%s", res.replies, want, want-res.replies, errTail)
	}
	return res, nil
}

// intField parses the integer after key in a compact JSON line.
func intField(line []byte, key string) (int64, bool) {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	j := i + len(key)
	k := j
	for k < len(line) && line[k] >= '0' && line[k] <= '9' {
		k++
	}
	v, err := strconv.ParseInt(string(line[j:k]), 10, 64)
	return v, err == nil
}

// strField returns the string after key (which ends in the opening quote).
func strField(line []byte, key string) string {
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	if j := bytes.IndexByte(rest, '"'); j >= 0 {
		return string(rest[:j])
	}
	return ""
}

// pinSelf moves nodebench's threads off CPU 0, which the child has.
func pinSelf() {
	if n := runtime.NumCPU(); n > 1 {
		cpus := "1-" + strconv.Itoa(n-1)
		exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid())).Run()
	}
}

var tmpFile string // removed by fatal and at the end of main

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "nodebench: "+format+"\n", a...)
	if tmpFile != "" {
		os.Remove(tmpFile)
	}
	os.Exit(1)
}

func main() {
	_, tasksetErr := exec.LookPath("taskset")
	canPin := runtime.GOOS == "linux" && tasksetErr == nil
	bin := flag.String("bin", "./l7lb", "node binary to benchmark")
	n := flag.Int("n", 1000000, "number of http_request messages")
	runs := flag.Int("runs", 3, "runs; the median of each metric is reported")
	seed := flag.Int64("seed", 1, "seed of the request mix")
	timeout := flag.Duration("timeout", 120*time.Second, "limit for each run")
	pin := flag.Bool("pin", canPin, "run the child with taskset -c 0")
	out := flag.String("out", "", "only write the generated stream to `FILE` (- for stdout)")
	cfg := flag.Bool("config", false, "only print the config message")
	flag.Parse()
	if *n < 0 || *runs < 1 {
		fatal("-n must be >= 0 and -runs >= 1")
	}

	if *cfg {
		os.Stdout.Write(configLine())
		return
	}
	if *out != "" {
		w := os.Stdout
		if *out != "-" {
			var err error
			if w, err = os.Create(*out); err != nil {
				fatal("%v", err)
			}
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		err := generate(bw, *n, *seed)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			fatal("%v", err)
		}
		return
	}

	if _, err := os.Stat(*bin); err != nil {
		fatal("binary %s: %v (build it first: go build -o l7lb .)", *bin, err)
	}
	f, err := os.CreateTemp("", "nodebench-*.jsonl")
	if err != nil {
		fatal("%v", err)
	}
	tmpFile = f.Name()
	defer os.Remove(tmpFile)
	if err := generate(f, *n, *seed); err != nil {
		fatal("writing %s: %v", tmpFile, err)
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	if err := f.Close(); err != nil {
		fatal("writing %s: %v", tmpFile, err)
	}
	if *pin {
		if !canPin {
			fatal("-pin needs Linux and taskset")
		}
		if err := exec.Command("taskset", "-c", "0", "true").Run(); err != nil {
			fmt.Fprintf(os.Stderr, "nodebench: cannot pin to CPU 0 (%v), running unpinned\n", err)
			*pin = false
		} else {
			pinSelf()
		}
	}
	pinned := "unpinned"
	if *pin {
		pinned = "pinned to CPU 0"
	}
	fmt.Printf("nodebench: %s, GOMAXPROCS=1, %s, stream %.1f MiB, seed %d, %d run(s)\n",
		*bin, pinned, float64(size)/(1<<20), *seed, *runs)

	var walls, cpus, users, syss []time.Duration
	var rss, floors []int64
	errs := 0
	for i := range *runs {
		res, err := run(*bin, tmpFile, *n, *pin, *timeout)
		if err != nil {
			fatal("run %d: %v", i+1, err)
		}
		walls, cpus, rss = append(walls, res.wall), append(cpus, res.cpu), append(rss, res.rssKiB)
		floors = append(floors, res.floorKiB)
		users, syss = append(users, res.user), append(syss, res.sys)
		errs = max(errs, res.nerr())
		fmt.Printf("run %d/%d: %.3f s, %.0f req/s, %.0f ns CPU/req, peak RSS %.1f MiB, errors %d\n",
			i+1, *runs, res.wall.Seconds(), float64(*n)/res.wall.Seconds(),
			float64(res.cpu.Nanoseconds())/float64(max(*n, 1)), float64(res.rssKiB)/1024, res.nerr())
		if res.nerr() > 0 {
			kinds := make([]string, 0, len(res.errors))
			for k, c := range res.errors {
				kinds = append(kinds, fmt.Sprintf("%s: %d", k, c))
			}
			slices.Sort(kinds)
			fmt.Printf("  errors: %s\n  first: %s\n", strings.Join(kinds, ", "), res.sample)
		}
	}

	wall, cpu, mrss := stats.Median(walls), stats.Median(cpus), stats.Median(rss)
	rps := float64(*n) / wall.Seconds()
	nsPerReq := float64(cpu.Nanoseconds()) / float64(max(*n, 1))
	mib := float64(mrss) / 1024
	fmt.Printf("messages:          %d (%d http_request)\n", *n+setupMsgs, *n)
	fmt.Printf("wall seconds:      %.3f\n", wall.Seconds())
	fmt.Printf("requests/second:   %.0f\n", rps)
	fmt.Printf("child CPU seconds: %.3f (user %.3f, sys %.3f)\n", cpu.Seconds(), stats.Median(users).Seconds(), stats.Median(syss).Seconds())
	fmt.Printf("CPU ns/request:    %.0f\n", nsPerReq)
	floor := ""
	if f := slices.Max(floors); mrss <= f {
		floor = fmt.Sprintf(" (not above nodebench's own %.1f MiB, which vfork counts in: the child's true peak may be lower)", float64(f)/1024)
	}
	fmt.Printf("peak RSS MiB:      %.1f%s\n", mib, floor)
	fmt.Printf("errors:            %d (worst run)\n", errs)
	fmt.Printf("nodebench: %d requests, %.0f req/s, %.0f ns CPU/req, peak RSS %.1f MiB\n", *n, rps, nsPerReq, mib)
	if errs > 0 {
		fatal("%d replies were not as expected (see above)", errs)
	}
}
