package maelstrom

import (
	"bytes"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"l7lb/jsonx"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	const blockLines = 100000
	var block bytes.Buffer
	for i := range blockLines {
		fmt.Fprintf(&block, `{"src":"c%d","dest":"lb","body":{"type":"echo","msg_id":%d,"echo":"hello"}}`+"\n", i%10, i)
	}
	msg := block.Bytes()[:bytes.IndexByte(block.Bytes(), '\n')]
	const N = 3000000
	for rep := 0; rep < 3; rep++ {
		n := NewNode(newRepeatReader(block.Bytes(), blockLines, N), io.Discard, nil)
		echo := &echoFields{}
		n.Handle("echo", func(m *Message) error {
			echo.echo = member(m.Body, "echo")
			return n.ReplyFields(m, "echo_ok", echo)
		})
		c0 := cpuNow()
		n.Run()
		c1 := cpuNow()
		var end int
		for i := 0; i < N; i++ {
			end, _ = jsonx.ValueEnd(msg)
		}
		c2 := cpuNow()
		for i := 0; i < N; i++ {
			jsonx.ObjectEach(msg, func(k, v []byte) error { return nil })
		}
		c3 := cpuNow()
		t.Logf("Run %v/msg   ValueEnd %v/msg (%d)  ObjectEach %v", (c1-c0)/N, (c2-c1)/N, end, (c3-c2)/N)
	}
}
