// Command fleetsim measures a fleet at scale: N agents (package fleet),
// each with its own lease, member record and watch, in one process,
// watching one prefix of a real single-member etcd on loopback; each agent
// compiles every shared configuration it gets exactly as an instance does
// (instance.CompileFleet) and keeps the compiled engine. For each N and
// configuration size it pushes a few configurations and prints, as a
// Markdown table: the time from the push to the last agent having applied
// it (median), the compile time of one configuration (median, one core
// busy with nothing else), the heap per agent with its compiled
// configuration, the etcd gRPC requests and watch messages per push.
//
// -clients: "shared" (the default) gives all agents one etcd client, as a
// process hosting several fleets would: one connection and one gRPC
// keep-alive, the watches and lease keep-alives multiplexed on it. "own"
// gives each agent its own client, as N separate instances have: N
// connections, each with its keep-alive pings and streams (500 agents
// start about twice as slowly as with one client; docs/fleet.md#scale).
// -compile one: only the first agent compiles, the others take the
// document as it comes (delivery only: for N × a large configuration that
// would not fit one machine's memory and cores).
//
//	make bins && go run ./tools/fleetsim                      # N = 10, 100; 10 and 1,000 routes
//	go run ./tools/fleetsim -n 10,100,500 -routes 10,1000,10000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"l7lb/config"
	"l7lb/engine"
	"l7lb/fleet"
	"l7lb/instance"
	"l7lb/tools/loopback"
)

func main() {
	ns := flag.String("n", "10,100", "numbers of agents, comma-separated")
	sizes := flag.String("routes", "10,1000", "routes per configuration, comma-separated")
	pushes := flag.Int("pushes", 5, "pushes measured per row")
	etcdBin := flag.String("etcd", ".cache/bin/etcd", "the etcd binary (make bins)")
	clients := flag.String("clients", "shared", "shared: one etcd client for all agents; own: one each")
	compile := flag.String("compile", "all", "all: every agent compiles each push; one: only the first")
	flag.Parse()
	if *clients != "shared" && *clients != "own" || *compile != "all" && *compile != "one" {
		fmt.Fprintln(os.Stderr, "fleetsim: -clients is shared or own, -compile all or one")
		os.Exit(2)
	}
	mode = sim{ownClients: *clients == "own", compileOne: *compile == "one"}
	if err := run(*etcdBin, ints(*ns), ints(*sizes), *pushes); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// sim is how the agents are simulated (the flags).
type sim struct{ ownClients, compileOne bool }

var mode sim

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "fleetsim: not a positive number: %q\n", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func run(etcdBin string, ns, sizes []int, pushes int) error {
	dir, err := os.MkdirTemp("", "fleetsim")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	client, err := loopback.FreeAddr()
	if err != nil {
		return err
	}
	peer, err := loopback.FreeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(etcdBin, "--name", "s", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "s=http://"+peer, "--unsafe-no-fsync", "--log-level", "error",
		"--quota-backend-bytes", strconv.Itoa(4<<30))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %v (run make bins)", etcdBin, err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := loopback.WaitListening(client, 15*time.Second); err != nil {
		return fmt.Errorf("etcd: %v", err)
	}
	eps := []string{"http://" + client}
	fmt.Printf("clients %s, compile %s\n\n", map[bool]string{true: "own", false: "shared"}[mode.ownClients], map[bool]string{true: "one", false: "all"}[mode.compileOne])
	fmt.Println("| agents | routes | push → last agent applied (median) | compile, one configuration (median) | heap per agent | etcd gRPC requests per push | watch messages per push |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	for _, size := range sizes {
		compile := compileTime(size)
		for _, n := range ns {
			prefix := fmt.Sprintf("/sim/%d/%d", n, size)
			row, err := measure(eps, client, prefix, n, size, pushes)
			if err != nil {
				return err
			}
			fmt.Printf("| %d | %d | %v | %v | %s | %.0f | %.0f |\n", n, size, row.latency.Round(time.Millisecond), compile.Round(time.Microsecond*10), mib(row.heapPerAgent), row.requestsPerPush, row.watchPerPush)
		}
	}
	return nil
}

// shared returns a shared configuration of size routes over 8 servers;
// gen makes each push differ.
func shared(size, gen int) []byte {
	var b strings.Builder
	b.WriteString("servers:\n")
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "  s%d: http://127.0.0.1:%d\n", i, 20000+gen%100+i*100)
	}
	b.WriteString("routes:\n")
	for i := 0; i < size; i++ {
		fmt.Fprintf(&b, "  - {host: h%d.example.com, path: /r%d/*, servers: [s%d, s%d]}\n", i%50, i, i%8, (i+1)%8)
	}
	return []byte(b.String())
}

const local = "listen: 127.0.0.1:1\nfleet: {etcd: [http://127.0.0.1:1], prefix: /sim}\n"

func compileTime(size int) time.Duration {
	var took []time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		if _, err := instance.CompileFleet(".", "local", []byte(local), config.Document{Name: "shared", Data: shared(size, i)}, instance.Env{NodeID: "sim"}); err != nil {
			panic(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took[len(took)/2]
}

type row struct {
	latency         time.Duration
	heapPerAgent    uint64
	requestsPerPush float64
	watchPerPush    float64
}

// agentInstance is an instance reduced to its configuration: it compiles
// what it is given and keeps the result.
type agentInstance struct {
	eng      *engine.Engine
	compiles bool // else it keeps the document only (-compile one)
	current  atomic.Pointer[instance.Compiled]
	doc      atomic.Pointer[[]byte]
	applied  atomic.Int64 // pushes applied
}

func (a *agentInstance) ApplyShared(d config.Document) error {
	if a.compiles {
		c, err := instance.CompileFleet(".", "local", []byte(local), d, instance.Env{NodeID: "sim"})
		if err != nil {
			return err
		}
		a.current.Store(c)
	} else {
		a.doc.Store(&d.Data)
	}
	a.applied.Add(1)
	return nil
}
func (a *agentInstance) Engine() *engine.Engine    { return a.eng }
func (a *agentInstance) Hash() string              { return "" }
func (a *agentInstance) OwnDown() map[string]bool  { return nil }
func (a *agentInstance) SetFleetDown(string, bool) {}

func measure(eps []string, client, prefix string, n, size, pushes int) (row, error) {
	cl, err := fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix})
	if err != nil {
		return row{}, err
	}
	defer cl.Close()
	var agentsClient *clientv3.Client // nil: one each
	if !mode.ownClients {
		if agentsClient, err = fleet.Connect(&config.Fleet{Etcd: eps, Prefix: prefix}); err != nil {
			return row{}, err
		}
		defer agentsClient.Close()
	}
	ctx := context.Background()
	if _, err := fleet.Push(ctx, cl, prefix, shared(size, 0), -1); err != nil {
		return row{}, err
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	agents := make([]*fleet.Agent, n)
	ins := make([]*agentInstance, n)
	var wg sync.WaitGroup
	began := time.Now()
	for i := range agents {
		eng := engine.New(nil)
		eng.Init("sim", []string{"s0"})
		ins[i] = &agentInstance{eng: eng, compiles: i == 0 || !mode.compileOne}
		a, st, err := fleet.New(fleet.Options{Fleet: &config.Fleet{Etcd: eps, Prefix: prefix, Name: fmt.Sprintf("a%d", i)}, Client: agentsClient, Logf: func(string, ...any) {}})
		if err != nil {
			return row{}, fmt.Errorf("agent %d of %d, %v after the first: %v", i+1, n, time.Since(began).Round(time.Millisecond), err)
		}
		if err := ins[i].ApplyShared(st.Shared); err != nil {
			return row{}, err
		}
		agents[i] = a
		a.Run(ins[i], "sim")
	}
	defer func() {
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); a.Close() }()
		}
		wg.Wait()
	}()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	time.Sleep(time.Second) // the member records written
	fmt.Fprintf(os.Stderr, "fleetsim: %d agents (%d routes) started in %v\n", n, size, time.Since(began).Round(time.Millisecond))
	reqBefore, watchBefore, err := grpcRequests(client)
	if err != nil {
		return row{}, err
	}
	var took []time.Duration
	for p := 1; p <= pushes; p++ {
		start := time.Now()
		if _, err := fleet.Push(ctx, cl, prefix, shared(size, p), -1); err != nil {
			return row{}, err
		}
		deadline := start.Add(2 * time.Minute)
		for _, in := range ins {
			for in.applied.Load() < int64(p+1) {
				if time.Now().After(deadline) {
					return row{}, fmt.Errorf("%d agents, %d routes: push %d not applied everywhere after 2 min", n, size, p)
				}
				time.Sleep(time.Millisecond)
			}
		}
		took = append(took, time.Since(start))
	}
	reqAfter, watchAfter, err := grpcRequests(client)
	if err != nil {
		return row{}, err
	}
	slices.Sort(took)
	return row{latency: took[len(took)/2], heapPerAgent: (after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)) / uint64(n),
		requestsPerPush: (reqAfter - reqBefore) / float64(pushes), watchPerPush: (watchAfter - watchBefore) / float64(pushes)}, nil
}

// grpcRequests reads etcd's /metrics: the sum of grpc_server_handled_total
// (requests handled), and the messages its Watch streams sent.
func grpcRequests(client string) (requests, watch float64, err error) {
	resp, err := http.Get("http://" + client + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, "grpc_server_handled_total{"):
			requests += v
		case strings.HasPrefix(line, "grpc_server_msg_sent_total{") && strings.Contains(line, `grpc_method="Watch"`):
			watch += v
		}
	}
	return requests, watch, sc.Err()
}

func mib(b uint64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
