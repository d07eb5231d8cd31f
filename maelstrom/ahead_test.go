package maelstrom

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// aheadStream mixes echo requests with everything else the node meets:
// other types, init, broken and unfinished lines, messages over several
// lines and several on a line, replies, messages without src, a repeated
// type, blank lines and values that are not objects.
const aheadStream = initLine +
	`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2,"echo":"a"}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":3,"echo":"b"}} {"src":"c1","dest":"lb","body":{"type":"greet","msg_id":4}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":5,"echo":"c"}

{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":6,"echo":"d"}}
{"src":"c1","dest":"lb",
 "body":{"type":"echo","msg_id":7,
 "echo":"e"}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":8,"in_reply_to":1}}
{"dest":"lb","body":{"type":"echo","msg_id":9}}
{"src":"c1","dest":"lb","body":{"type":"echo","type":"fail","msg_id":10,"code":14}}
{"src":"c1","dest":"lb","body":{"type":"fail","type":"echo","msg_id":11,"echo":"f"}}
{"src":"c1","dest":"lb","body":{"type":7,"msg_id":12}}
{"src":"c1","dest":"lb","body":"echo"}
[1,2] 3
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":14,"echo":"\u0067"}}
{"src":"c1","dest":"lb","body":{"type":"nope","msg_id":15}}
` + initLine + `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":16,"echo":"h"}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":17,"echo":"i"`

// aheadLog records what a look-ahead function and the echo handler see.
type aheadLog struct {
	handled []string // the echo members handled, in order
	seen    []string // the echo members seen ahead, in order
	at      []int    // how many had been handled when each was seen ahead
}

// newAheadNode is newTestNode with the echo handler recording into l and,
// with depth above 0, a look-ahead function for echo.
func newAheadNode(in io.Reader, out, logw io.Writer, l *aheadLog, depth int) *Node {
	n := newTestNode(in, out, logw)
	echo := n.handlers["echo"].fn
	n.handlers["echo"].fn = func(m *Message) error {
		l.handled = append(l.handled, string(member(m.Body, "echo")))
		return echo(m)
	}
	if depth > 0 {
		n.Ahead("echo", depth, func(m *Message) {
			l.seen = append(l.seen, string(member(m.Body, "echo")))
			l.at = append(l.at, len(l.handled))
		})
	}
	return n
}

// TestAhead: a look-ahead function sees exactly the messages the handler
// of its type will be handed, in the same order, each before its turn and
// at most depth messages ahead; the node's output and logs are as without
// it, however the input comes in.
func TestAhead(t *testing.T) {
	stream := aheadStream + "\n" + strings.Repeat(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":20,"echo":"z"}}`+"\n", 50)
	readers := map[string]func() io.Reader{
		"whole":  func() io.Reader { return strings.NewReader(stream) },
		"bytes":  func() io.Reader { return iotest.OneByteReader(strings.NewReader(stream)) },
		"halves": func() io.Reader { return iotest.HalfReader(strings.NewReader(stream)) },
	}
	for name, reader := range readers {
		for _, depth := range []int{1, 3} {
			var want, got aheadLog
			var wantOut, wantLogs, gotOut, gotLogs bytes.Buffer
			if err := newAheadNode(reader(), &wantOut, &wantLogs, &want, 0).Run(); err != nil {
				t.Fatal(err)
			}
			if err := newAheadNode(reader(), &gotOut, &gotLogs, &got, depth).Run(); err != nil {
				t.Fatal(err)
			}
			if gotOut.String() != wantOut.String() || gotLogs.String() != wantLogs.String() {
				t.Errorf("%s, depth %d: output or logs differ with a look-ahead function:\n%s\nwant\n%s\nlogs\n%s\nwant\n%s",
					name, depth, gotOut.String(), wantOut.String(), gotLogs.String(), wantLogs.String())
			}
			if strings.Join(got.handled, " ") != strings.Join(want.handled, " ") {
				t.Errorf("%s, depth %d: handled %v, want %v", name, depth, got.handled, want.handled)
			}
			// What was seen ahead is handled later, in order.
			next := 0
			for i, s := range got.seen {
				for next < len(got.handled) && (next < got.at[i] || got.handled[next] != s) {
					next++
				}
				if next == len(got.handled) {
					t.Fatalf("%s, depth %d: %q seen ahead after %d handled, then not handled in order: %v", name, depth, s, got.at[i], got.handled)
				}
				if next-got.at[i] >= depth+1 {
					t.Errorf("%s, depth %d: %q seen %d messages ahead", name, depth, s, next-got.at[i])
				}
				next++
			}
			if name == "whole" && len(got.seen) < len(got.handled)/2 {
				t.Errorf("%s, depth %d: %d of %d seen ahead", name, depth, len(got.seen), len(got.handled))
			}
			if name == "bytes" && len(got.seen) != 0 {
				t.Errorf("bytes, depth %d: %d seen ahead, with nothing buffered", depth, len(got.seen))
			}
		}
	}
}

// TestAheadAllocs: looking ahead allocates nothing once the node is warm.
func TestAheadAllocs(t *testing.T) {
	const msgs = 20000
	in := initLine + strings.Repeat(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,"echo":"x"}}`+"\n", msgs)
	seen := 0
	allocs := testing.AllocsPerRun(1, func() {
		n := newTestNode(strings.NewReader(in), io.Discard, nil)
		n.Ahead("echo", 3, func(*Message) { seen++ })
		if err := n.Run(); err != nil {
			t.Fatal(err)
		}
	})
	// As TestRunAllocs, and the member lists of the queued messages.
	if allocs > 100 {
		t.Errorf("%v allocations for %d messages", allocs, msgs)
	}
	if seen < msgs/2 {
		t.Errorf("%d of %d messages seen ahead", seen, msgs)
	}
}

func TestAheadPanics(t *testing.T) {
	for name, register := range map[string]func(n *Node){
		"nil":        func(n *Node) { n.Ahead("echo", 1, nil) },
		"depth":      func(n *Node) { n.Ahead("echo", 0, func(*Message) {}) },
		"reply type": func(n *Node) { n.Ahead("echo_ok", 1, func(*Message) {}) },
		"init":       func(n *Node) { n.Ahead("init", 1, func(*Message) {}) },
		"twice": func(n *Node) {
			n.Ahead("echo", 1, func(*Message) {})
			n.Ahead("echo", 2, func(*Message) {})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register(NewNode(strings.NewReader(""), io.Discard, nil))
		}()
	}
}
