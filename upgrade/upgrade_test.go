package upgrade

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// childMode makes the test binary act as the new process: it takes the
// listener "web", answers one connection on it with the state it got,
// says it is ready (or exits without, for "fail"), and waits for its
// parent to exit before it exits itself.
const childMode = "L7LB_UPGRADE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childMode) {
	case "":
		os.Exit(m.Run())
	case "fail":
		os.Exit(3)
	}
	in, err := Inherit()
	if err != nil || in == nil {
		fmt.Fprintln(os.Stderr, "inherit:", err)
		os.Exit(1)
	}
	ln := in.Take("web")
	if ln == nil || in.Take("web") != nil {
		os.Exit(1)
	}
	if !in.ParentRunning() {
		os.Exit(1)
	}
	in.Ready()
	c, err := ln.Accept()
	if err != nil {
		os.Exit(1)
	}
	fmt.Fprintf(c, "%s\n", in.State)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for in.ParentRunning() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	os.Exit(0)
}

// TestStart hands a listener and state to a new process, which answers on
// the very socket once ready; a child that fails is reported.
func TestStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := append(os.Environ(), childMode+"=ok")
	pid, err := Start(os.Args[0], []string{"-test.run=^$"}, env, Files{Listeners: map[string]net.Listener{"web": ln}, State: []byte("the state")}, 10*time.Second)
	if err != nil || pid <= 0 {
		t.Fatalf("Start: %d %v", pid, err)
	}
	// This process stops accepting: the child answers on the socket.
	ln.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("after the handover: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "the state" {
		t.Errorf("the child answered %q, %v", line, err)
	}

	env = append(os.Environ(), childMode+"=fail")
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	if _, err := Start(os.Args[0], []string{"-test.run=^$"}, env, Files{Listeners: map[string]net.Listener{"web": ln2}}, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("a failing child: %v", err)
	}
}

func TestNotAnUpgrade(t *testing.T) {
	in, err := Inherit()
	if in != nil || err != nil || in.ParentRunning() || in.Take("x") != nil || in.Ready() != nil {
		t.Errorf("Inherit outside an upgrade: %v %v", in, err)
	}
}
