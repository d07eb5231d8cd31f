package maelstrom

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// aheadNode returns a node whose "r" messages are handled ahead, logging
// each part as "a<slot>:<msg_id>" or "f<slot>:<msg_id>" in *events; "x"
// messages log "x:<msg_id>". An "r" with "fail" errs ahead, one with
// "panic" panics ahead.
func aheadNode(in io.Reader, out io.Writer, events *[]string) *Node {
	n := NewNode(in, out, nil)
	n.HandleAhead("r", func(m *Message) error {
		*events = append(*events, fmt.Sprintf("a%d:%s", m.Slot, m.MsgID))
		switch {
		case member(m.Body, "fail") != nil:
			return NewRPCError(MalformedRequest, "failed ahead")
		case member(m.Body, "panic") != nil:
			panic("ahead")
		}
		return nil
	}, func(m *Message) error {
		*events = append(*events, fmt.Sprintf("f%d:%s", m.Slot, m.MsgID))
		return n.Reply(m, "r_ok", nil)
	})
	n.Handle("x", func(m *Message) error {
		*events = append(*events, fmt.Sprintf("x:%s", m.MsgID))
		return n.Reply(m, "x_ok", nil)
	})
	return n
}

func TestHandleAhead(t *testing.T) {
	msg := func(typ string, id int, extra string) string {
		return fmt.Sprintf(`{"src":"c1","dest":"lb","body":{"type":%q,"msg_id":%d%s}}`+"\n", typ, id, extra)
	}
	var in strings.Builder
	for i := 1; i <= 10; i++ { // a window of Ahead, then one of 2
		in.WriteString(msg("r", i, ""))
	}
	in.WriteString(msg("x", 11, ""))
	// Two on one line, then one across two lines, a broken one, and
	// another ending the input.
	in.WriteString(strings.TrimSuffix(msg("r", 12, ""), "\n") + msg("r", 13, `,"fail":1`))
	in.WriteString(`{"src":"c1","dest":"lb",` + "\n" + `"body":{"type":"r","msg_id":14,"panic":1}}` + "\n")
	in.WriteString(`{"src":"c1","body":{"type":"r","msg_id":15,` + "\n")
	in.WriteString(msg("r", 16, ""))

	var events []string
	var out bytes.Buffer
	if err := aheadNode(strings.NewReader(in.String()), &out, &events).Run(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a0:1", "a1:2", "a2:3", "a3:4", "a4:5", "a5:6", "a6:7", "a7:8",
		"f0:1", "f1:2", "f2:3", "f3:4", "f4:5", "f5:6", "f6:7", "f7:8",
		"a0:9", "a1:10", "f0:9", "f1:10",
		"x:11",
		"a0:12", "a1:13", "f0:12", // 13 is answered by its error
		"a0:14",          // across two lines, alone; it panics ahead
		"a0:16", "f0:16", // after 15, broken
	}
	if got := strings.Join(events, " "); got != strings.Join(want, " ") {
		t.Errorf("events\n%s\nwant\n%s", got, strings.Join(want, " "))
	}
	// Replies in message order: the errors in their turn.
	var ids []string
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		irt := member(member([]byte(line), "body"), "in_reply_to")
		typ := member(member([]byte(line), "body"), "type")
		ids = append(ids, fmt.Sprintf("%s%s", typ, irt))
	}
	wantIDs := `"r_ok"1 "r_ok"2 "r_ok"3 "r_ok"4 "r_ok"5 "r_ok"6 "r_ok"7 "r_ok"8 "r_ok"9 "r_ok"10 "x_ok"11 "r_ok"12 "error"13 "error"14 "error"15 "r_ok"16`
	if got := strings.Join(ids, " "); got != wantIDs {
		t.Errorf("replies %s\nwant %s", got, wantIDs)
	}
	if !strings.Contains(out.String(), `"in_reply_to":14,"msg_id":13,"code":13,"text":"panic: ahead"`) {
		t.Errorf("the panic ahead is not answered with error 13:\n%s", out.String())
	}
}

// TestHandleAheadAlone: a message with nothing buffered after it is
// handled without waiting for more input.
func TestHandleAheadAlone(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var events []string
	n := aheadNode(inR, outW, &events)
	done := make(chan error, 1)
	go func() { done <- n.Run() }()
	for i := range 3 {
		fmt.Fprintf(inW, `{"src":"c1","dest":"lb","body":{"type":"r","msg_id":%d}}`+"\n", i)
		got := make(chan string, 1)
		go func() {
			b := make([]byte, 4096)
			k, _ := outR.Read(b)
			got <- string(b[:k])
		}()
		select {
		case line := <-got:
			if !strings.Contains(line, fmt.Sprintf(`"in_reply_to":%d,`, i)) {
				t.Fatalf("reply %q to message %d", line, i)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reply while the input is open")
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(events, " "), "a0:0 f0:0 a0:1 f0:1 a0:2 f0:2"; got != want {
		t.Errorf("events %s, want %s", got, want)
	}
}

func TestHandleAheadPanics(t *testing.T) {
	fn := func(*Message) error { return nil }
	for _, tt := range []struct {
		typ       string
		ahead, fn HandlerFunc
		want      string
	}{
		{"init", fn, fn, "maelstrom: no handling ahead for init"},
		{"r", nil, fn, "maelstrom: no handling ahead for r"},
		{"r", fn, nil, "maelstrom: nil handler for r"},
		{"r_ok", fn, fn, "maelstrom: r_ok is a reply type, never dispatched"},
	} {
		func() {
			defer func() {
				if p := recover(); p != tt.want {
					t.Errorf("HandleAhead(%q) panicked with %v, want %q", tt.typ, p, tt.want)
				}
			}()
			NewNode(strings.NewReader(""), io.Discard, nil).HandleAhead(tt.typ, tt.ahead, tt.fn)
		}()
	}
}
