package maelstrom

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"
)

// repeatReader serves copies of a block of lines, total lines in all.
type repeatReader struct {
	block []byte
	times int    // whole copies of block still to serve
	tail  []byte // then this prefix of block
	rest  []byte // what is left of the copy being served
}

func newRepeatReader(block []byte, lines, total int) *repeatReader {
	end := 0
	for range total % lines {
		end += bytes.IndexByte(block[end:], '\n') + 1
	}
	return &repeatReader{block: block, times: total / lines, tail: block[:end]}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for len(r.rest) == 0 {
		switch {
		case r.times > 0:
			r.times--
			r.rest = r.block
		case r.tail != nil:
			r.rest, r.tail = r.tail, nil
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// BenchmarkRun measures Run on small messages, one op per message. In
// "reply", the handler answers through ReplyFields with fixed fields, which
// measures the runtime alone: reading, splitting, parsing the envelope and
// body, dispatching and writing the reply. In "echo", the handler also
// reads a member of the body, as a real handler does.
func BenchmarkRun(b *testing.B) {
	const blockLines = 100000
	var block bytes.Buffer
	for i := range blockLines {
		fmt.Fprintf(&block, `{"src":"c%d","dest":"lb","body":{"type":"echo","msg_id":%d,"echo":"hello"}}`+"\n", i%10, i)
	}
	b.Run("reply", func(b *testing.B) {
		fixed := &echoFields{echo: []byte(`"hello"`)}
		benchmarkRun(b, block.Bytes(), blockLines, func(n *Node, m *Message) error {
			return n.ReplyFields(m, "echo_ok", fixed)
		})
	})
	b.Run("echo", func(b *testing.B) {
		echo := &echoFields{}
		benchmarkRun(b, block.Bytes(), blockLines, func(n *Node, m *Message) error {
			echo.echo = member(m.Body, "echo")
			return n.ReplyFields(m, "echo_ok", echo)
		})
	})
}

func benchmarkRun(b *testing.B, block []byte, lines int, h func(*Node, *Message) error) {
	n := NewNode(newRepeatReader(block, lines, b.N), io.Discard, nil)
	n.Handle("echo", func(m *Message) error { return h(n, m) })
	b.SetBytes(int64(len(block) / lines))
	b.ReportAllocs()
	b.ResetTimer()
	if err := n.Run(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := string(n.msgID); got != strconv.Itoa(b.N) {
		b.Fatalf("%s replies to %d messages", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
