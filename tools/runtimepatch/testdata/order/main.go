// Command order prints, on one line, the order in which goroutines
// blocked reading sockets run once the sockets became readable in the
// order 0, 1, 2, ...: what the runtime's poller hands over.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

const n = 16

func main() {
	runtime.GOMAXPROCS(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	var clients, servers []net.Conn
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fail(err)
		}
		s, err := ln.Accept()
		if err != nil {
			fail(err)
		}
		clients, servers = append(clients, c), append(servers, s)
	}
	ran := make(chan int, n)
	for i, s := range servers {
		go func() {
			s.Read(make([]byte, 1))
			ran <- i
		}()
	}
	// Every reader runs, finds nothing and parks in the poller.
	time.Sleep(100 * time.Millisecond)
	for _, c := range clients {
		if _, err := c.Write([]byte{1}); err != nil {
			fail(err)
		}
	}
	// Blocking here makes the scheduler poll, once, with all n ready.
	order := make([]string, n)
	for j := range order {
		order[j] = fmt.Sprint(<-ran)
	}
	fmt.Println(strings.Join(order, " "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
