// Package etcdtest runs a real etcd cluster on loopback for tests: the
// etcd of tools/bins (package testbin), each member a process stopped
// when the test ends.
package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"l7lb/testbin"
)

// Cluster is an etcd cluster of a test.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	initial string
	o       Options
	Members []*Member
}

// Options are how a cluster serves its clients.
type Options struct {
	// TLS, when set, has the members serve their clients over TLS with
	// its server certificate and ask each for a certificate signed by its
	// authority (--client-cert-auth); the client URLs are https.
	TLS *PKI
}

// Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string
	peerURL   string
	cmd       *exec.Cmd
	exited    chan struct{}
	cluster   *Cluster
	everRan   bool
}

// Start starts an n-member cluster and waits until it serves.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartWith(t, n, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, bin: testbin.Path(t, "etcd"), dir: t.TempDir(), o: o}
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i), ClientURL: scheme + freeAddr(t), peerURL: "http://" + freeAddr(t), cluster: c}
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.peerURL)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(c.StopAll)
	for _, m := range c.Members {
		m.Start()
	}
	for _, m := range c.Members {
		m.waitHealthy()
	}
	return c
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// Leader returns the member that leads the cluster now (bounded wait for
// an election).
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m.cmd == nil {
				continue
			}
			cl, err := clientv3.New(clientv3.Config{Endpoints: []string{m.ClientURL}, DialTimeout: time.Second, Logger: zap.NewNop(), TLS: c.clientTLS()})
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.Status(ctx, m.ClientURL)
			cancel()
			cl.Close()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatal("etcdtest: no leader")
	return nil
}

// clientTLS is the TLS of the cluster's own clients: the test's client
// certificate; nil without TLS.
func (c *Cluster) clientTLS() *tls.Config {
	p := c.o.TLS
	if p == nil {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(p.ClientCert, p.ClientKey)
	if err != nil {
		c.t.Fatal(err)
	}
	ca, err := os.ReadFile(p.CA)
	if err != nil {
		c.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots}
}

// StopAll stops every member still running.
func (c *Cluster) StopAll() {
	for _, m := range c.Members {
		m.Stop()
	}
}

// Start starts m (again, with its data).
func (m *Member) Start() {
	t := m.cluster.t
	state := "new"
	if m.everRan {
		state = "existing"
	}
	m.everRan = true
	log, err := os.OpenFile(filepath.Join(m.cluster.dir, m.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	args := []string{"--name", m.Name, "--data-dir", filepath.Join(m.cluster.dir, m.Name),
		"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.cluster.initial, "--initial-cluster-state", state, "--initial-cluster-token", "l7lb-test",
		// A busy shared machine: elections slower than the default would
		// flap; no fsync, for speed (test data only).
		"--heartbeat-interval", "100", "--election-timeout", "1000", "--unsafe-no-fsync", "--log-level", "warn"}
	if p := m.cluster.o.TLS; p != nil {
		args = append(args, "--cert-file", p.ServerCert, "--key-file", p.ServerKey, "--trusted-ca-file", p.CA, "--client-cert-auth")
	}
	m.cmd = exec.Command(m.cluster.bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.exited)
}

// Stop stops m (SIGKILL: a crash) and waits for it to exit.
func (m *Member) Stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
	m.cmd = nil
}

// waitHealthy waits, bounded, until m answers its health endpoint.
func (m *Member) waitHealthy() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, host, _ := strings.Cut(m.ClientURL, "://")
		conn, err := net.DialTimeout("tcp", host, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.cluster.t.Fatalf("etcd %s did not start: see %s", m.Name, filepath.Join(m.cluster.dir, m.Name+".log"))
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
