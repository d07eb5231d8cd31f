package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"l7lb/httpmsg"
	"l7lb/tools/loopback"
	"l7lb/tools/procfs"
	"l7lb/tools/routeset"
)

// proxyOptions are the pinning and the load of the proxy face.
type proxyOptions struct {
	bin                 string
	proxyCore, loadCore int
	conns               int
}

// proxyChild runs measureProxyOnce in a fresh routegen process pinned to
// the load core: the requests and the servers run there, the proxy alone
// on its core.
func proxyChild(self string, o proxyOptions, c sizeCase, n int, timeout time.Duration) (measurement, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(o.loadCore), self,
		"-measure-proxy", strconv.Itoa(c.routes), "-regex", strconv.Itoa(c.regex), "-n", strconv.Itoa(n),
		"-bin", o.bin, "-proxy-core", strconv.Itoa(o.proxyCore), "-conns", strconv.Itoa(o.conns), "-timeout", timeout.String())
	return measureChild(cmd)
}

// measureProxyOnce starts `bin serve` on a generated configuration, its
// eight servers in this process, and sends n requests spread over the
// routes, o.conns at a time on keep-alive connections, after a warm-up.
// Throughput is requests per CPU second of the proxy (user and system:
// most of it is the kernel's TCP), so that the load generator's own speed
// does not enter it as long as it keeps the proxy busy; compile is the
// proxy's CPU time from its start until it accepts a connection; scrape
// the size of its /metrics after the requests.
func measureProxyOnce(o proxyOptions, routes, regex, n int, timeout time.Duration) (measurement, error) {
	m := measurement{Face: "proxy", Routes: routes, Regex: min(regex, routes)}
	var addrs routeset.Addrs
	for i := range addrs.Servers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return m, err
		}
		defer ln.Close()
		go serveOK(ln)
		addrs.Servers[i] = ln.Addr().String()
	}
	listen, err := loopback.FreeAddr()
	if err != nil {
		return m, err
	}
	addrs.Listen = listen
	if addrs.Admin, err = loopback.FreeAddr(); err != nil {
		return m, err
	}
	rs := routeset.Generate(routes, regex)
	dir, cfgFile, err := writeConfig(rs.AppendServeJSON(nil, addrs))
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// taskset execs the proxy: its pid is the proxy's.
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(o.proxyCore), o.bin, "serve", "--config", cfgFile, "--access-log=false")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return m, err
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(os.Interrupt)
	pid := cmd.Process.Pid
	if err := loopback.WaitListening(listen, timeout); err != nil {
		return m, fmt.Errorf("%v: %s", err, stderr.String())
	}
	start, err := procfs.ReadStat(pid)
	if err != nil {
		return m, err
	}
	m.Compile = ms(start.CPU())

	reqs := rs.Requests(n)
	wire := make([][]byte, len(reqs))
	for i, q := range reqs {
		host := q.Host
		if host == "" {
			host = "localhost" // a length no generated host has
		}
		wire[i] = []byte("GET " + q.Target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	}
	deadline, _ := ctx.Deadline()
	// The warm-up: connections to the servers, the proxy's buffers and
	// stacks grown.
	if err := load(listen, wire[:min(len(wire), 20000)], o.conns, deadline); err != nil {
		return m, err
	}
	s0, err := procfs.ReadStat(pid)
	if err != nil {
		return m, err
	}
	if err := load(listen, wire, o.conns, deadline); err != nil {
		return m, err
	}
	s1, err := procfs.ReadStat(pid)
	if err != nil {
		return m, err
	}
	m.PerSec = float64(n) / (s1.CPU() - s0.CPU()).Seconds()
	m.RSSMiB = float64(procfs.PeakRSS(pid)) / 1024
	scrape, err := get(ctx, "http://"+addrs.Admin+"/metrics")
	if err != nil {
		return m, err
	}
	m.ScrapeKiB = float64(len(scrape)) / 1024
	return m, nil
}

// get returns the body of a 200 response to GET url.
func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

// serveOK answers every request on ln's connections with 200 and a
// two-byte body; the requests have no body.
func serveOK(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br, bw := bufio.NewReader(c), bufio.NewWriter(c)
			var head []byte
			for {
				if head, err = readHead(br, head); err != nil {
					return
				}
				bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				if br.Buffered() == 0 && bw.Flush() != nil {
					return
				}
			}
		}()
	}
}

// readHead reads a request or response head, its empty line included,
// into buf and returns it: the parsing is httpmsg's.
func readHead(br *bufio.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		buf = append(buf, line...)
		if string(line) == "\r\n" || string(line) == "\n" {
			return buf, nil
		}
	}
}

// load sends the requests on conns connections to addr, each connection
// one request at a time (the k-th sends requests k, k+conns, …), and
// checks that every response is a 200.
func load(addr string, wire [][]byte, conns int, deadline time.Time) error {
	conns = max(1, min(conns, len(wire)))
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for k := range conns {
		wg.Go(func() {
			errs[k] = loadConn(addr, wire, k, conns, deadline)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadConn(addr string, wire [][]byte, first, step int, deadline time.Time) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	br := bufio.NewReader(c)
	var head []byte
	var resp httpmsg.ResponseHead
	for i := first; i < len(wire); i += step {
		if _, err := c.Write(wire[i]); err != nil {
			return err
		}
		if head, err = readHead(br, head); err != nil {
			return fmt.Errorf("request %q: %v", wire[i], err)
		}
		if err := httpmsg.ParseResponseHead(string(head), &resp); err != nil {
			return fmt.Errorf("request %q: response %q: %v", wire[i], head, err)
		}
		if resp.Status != 200 {
			return fmt.Errorf("request %q: status %d", wire[i], resp.Status)
		}
		var n int64
		if v, ok := (&httpmsg.Headers{Fields: resp.Fields}).Header("content-length"); ok {
			if n, err = httpmsg.ParseContentLength(v); err != nil {
				return fmt.Errorf("request %q: Content-Length %q: %v", wire[i], v, err)
			}
		}
		if _, err := br.Discard(int(n)); err != nil {
			return err
		}
	}
	return nil
}
