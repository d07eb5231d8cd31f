package maelstrom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"l7lb/jsonx"
)

// echoFields is the body of echo_ok: the request's echo member, as written.
type echoFields struct{ echo []byte }

func (f *echoFields) AppendFields(b []byte) []byte {
	if f.echo == nil {
		return b
	}
	b = append(b, `,"echo":`...)
	return jsonx.AppendCompact(b, f.echo)
}

// member returns the raw value of key in the object obj, or nil.
func member(obj []byte, key string) []byte {
	var v []byte
	jsonx.ObjectEach(obj, func(k, val []byte) error {
		if string(k) == key {
			v = val
		}
		return nil
	})
	return v
}

// newTestNode returns a node with the handlers used by the tests.
func newTestNode(in io.Reader, out, logw io.Writer) *Node {
	n := NewNode(in, out, logw)
	echo := &echoFields{}
	n.Handle("echo", func(m *Message) error {
		echo.echo = member(m.Body, "echo")
		return n.ReplyFields(m, "echo_ok", echo)
	})
	n.Handle("greet", func(m *Message) error {
		return n.Reply(m, "greet_ok", map[string]any{
			"z": 1, "a": map[string]any{"y": "&<>\n", "b": []any{1.5, "é"}}, "from": n.ID(),
		})
	})
	n.Handle("fail", func(m *Message) error {
		var code int
		fmt.Sscan(string(member(m.Body, "code")), &code)
		return fmt.Errorf("wrapped: %w", NewRPCError(code, "nope"))
	})
	n.Handle("boom", func(m *Message) error { return errors.New("boom") })
	n.Handle("panic", func(m *Message) error { panic("oops") })
	n.Handle("quiet", func(m *Message) error { return nil })
	n.Handle("reserved", func(m *Message) error {
		return n.Reply(m, "reserved_ok", map[string]any{"msg_id": 7})
	})
	n.Handle("unencodable", func(m *Message) error {
		return n.Reply(m, "unencodable_ok", map[string]any{"c": make(chan int)})
	})
	n.Handle("send", func(m *Message) error {
		if err := n.Send("s9", "ping", map[string]any{"from": m.Src}); err != nil {
			return err
		}
		return n.Reply(m, "send_ok", nil)
	})
	n.Handle("whoami", func(m *Message) error {
		return n.Reply(m, "whoami_ok", map[string]any{"id": n.ID(), "ids": n.NodeIDs()})
	})
	return n
}

// run runs a test node over input and returns its output and logs.
func run(t *testing.T, input string) (out, logs string) {
	t.Helper()
	var o, l bytes.Buffer
	if err := newTestNode(strings.NewReader(input), &o, &l).Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return o.String(), l.String()
}

const initLine = `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb","s1","s2"]}}` + "\n"
const initOK = `{"src":"lb","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}` + "\n"

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		in   string
		out  string
		logs []string // substrings expected in the logs, in order
	}{
		{
			name: "init and echo",
			in:   initLine + `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2,"echo":"hi"}}` + "\n",
			out:  initOK + `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1,"echo":"hi"}}` + "\n",
		},
		{
			name: "before init the reply comes from dest",
			in:   `{"src":"c1","dest":"n7","body":{"type":"echo","msg_id":2}}` + "\n",
			out:  `{"src":"n7","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":0}}` + "\n",
		},
		{
			name: "msg_id echoed as written",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1e2}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":"a"}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":-0.50}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id": {"x" : [1, "a b"]} }}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1e2,"msg_id":0}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":"a","msg_id":1}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":-0.50,"msg_id":2}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":{"x":[1,"a b"]},"msg_id":3}}
`,
		},
		{
			name: "no msg_id, no in_reply_to",
			in:   `{"src":"c1","dest":"lb","body":{"type":"echo"}}` + "\n",
			out:  `{"src":"lb","dest":"c1","body":{"type":"echo_ok","msg_id":0}}` + "\n",
		},
		{
			name: "reply map sorted and escaped as required only",
			in:   initLine + `{"src":"c\u0031 <&>","dest":"lb","body":{"type":"greet","msg_id":5}}` + "\n",
			out: initOK + `{"src":"lb","dest":"c1 <&>","body":{"type":"greet_ok","in_reply_to":5,"msg_id":1,` +
				`"a":{"b":[1.5,"é"],"y":"&<>\n"},"from":"lb","z":1}}` + "\n",
		},
		{
			name: "unknown type",
			in:   `{"src":"c1","dest":"lb","body":{"type":"frobnicate","msg_id":3}}` + "\n",
			out:  `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":3,"msg_id":0,"code":10,"text":"unsupported message type: frobnicate"}}` + "\n",
		},
		{
			name: "RPC errors, code 0 included",
			in: `{"src":"c1","dest":"lb","body":{"type":"fail","msg_id":1,"code":0}}
{"src":"c1","dest":"lb","body":{"type":"fail","msg_id":2,"code":30}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":0,"text":"nope"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":2,"msg_id":1,"code":30,"text":"nope"}}
`,
		},
		{
			name: "other errors and panics crash",
			in: `{"src":"c1","dest":"lb","body":{"type":"boom","msg_id":1}}
{"src":"c1","dest":"lb","body":{"type":"panic","msg_id":2}}
{"src":"c1","dest":"lb","body":{"type":"reserved","msg_id":3}}
{"src":"c1","dest":"lb","body":{"type":"unencodable","msg_id":4}}
{"src":"c1","dest":"lb","body":{"type":"send","msg_id":5}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":13,"text":"boom"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":2,"msg_id":1,"code":13,"text":"panic: oops"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":3,"msg_id":2,"code":13,"text":"maelstrom: body field \"msg_id\" is written by the node"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":4,"msg_id":3,"code":13,"text":"jsonx: unsupported type chan int"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":5,"msg_id":4,"code":13,"text":"maelstrom: cannot send before init: the node has no id"}}
`,
			logs: []string{"panic handling panic from c1: oops"},
		},
		{
			name: "send after init",
			in:   initLine + `{"src":"c1","dest":"lb","body":{"type":"send","msg_id":9}}` + "\n",
			out: initOK + `{"src":"lb","dest":"s9","body":{"type":"ping","msg_id":1,"from":"c1"}}
{"src":"lb","dest":"c1","body":{"type":"send_ok","in_reply_to":9,"msg_id":2}}
`,
		},
		{
			name: "a handler may not reply",
			in: `{"src":"c1","dest":"lb","body":{"type":"quiet","msg_id":1}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":0}}` + "\n",
		},
		{
			name: "init errors",
			in: `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":1,"node_ids":[]}}
{"src":"c0","dest":"lb","body":{"type":"init","msg_id":2,"node_id":"","node_ids":[]}}
{"src":"c0","dest":"lb","body":{"type":"init","msg_id":3,"node_id":7,"node_ids":[]}}
{"src":"c0","dest":"lb","body":{"type":"init","msg_id":4,"node_id":"lb"}}
{"src":"c0","dest":"lb","body":{"type":"init","msg_id":5,"node_id":"lb","node_ids":"lb"}}
{"src":"c0","dest":"lb","body":{"type":"init","msg_id":6,"node_id":"lb","node_ids":["lb",2]}}
{"src":"c0","dest":"x","body":{"type":"whoami","msg_id":7}}
`,
			out: `{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":12,"text":"node_id: expected a non-empty string"}}
{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":2,"msg_id":1,"code":12,"text":"node_id: expected a non-empty string"}}
{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":3,"msg_id":2,"code":12,"text":"node_id: expected a non-empty string"}}
{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":4,"msg_id":3,"code":12,"text":"node_ids: expected a list of strings"}}
{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":5,"msg_id":4,"code":12,"text":"node_ids: expected a list of strings"}}
{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":6,"msg_id":5,"code":12,"text":"node_ids[1]: expected a string"}}
{"src":"x","dest":"c0","body":{"type":"whoami_ok","in_reply_to":7,"msg_id":6,"id":"","ids":[]}}
`,
		},
		{
			name: "second init replaces the id",
			in: initLine + `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":2,"node_id":"n\u00e9","node_ids":["s1","n\u00e9"]}}
{"src":"c0","dest":"x","body":{"type":"whoami","msg_id":3}}
`,
			out: initOK + `{"src":"né","dest":"c0","body":{"type":"init_ok","in_reply_to":2,"msg_id":1}}
{"src":"né","dest":"c0","body":{"type":"whoami_ok","in_reply_to":3,"msg_id":2,"id":"né","ids":["s1","né"]}}
`,
		},
		{
			name: "malformed, answered when src and msg_id are known",
			in: `{"src":"c1","dest":"lb","body":{"msg_id":1,"type":}}
{"src":"c1","dest":"lb","body":{"msg_id":2}}
{"src":"c1","dest":"lb","body":{"msg_id":3,"type":5}}
{"src":"c1","dest":"lb","body":[{"msg_id":4}]}
{"src":"c1","dest":"lb"}
{"src":"c1","dest":"lb","body":{"msg_id":5,"type":"echo"},}
{"src":"c1","dest":"lb","body":{"msg_id":6,"type":"echo"}, "x":tru}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":12,"text":"malformed message: invalid character '}' looking for beginning of value at offset 50"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":2,"msg_id":1,"code":12,"text":"malformed message: missing body.type"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":3,"msg_id":2,"code":12,"text":"malformed message: body.type is not a string"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":5,"msg_id":3,"code":12,"text":"malformed message: invalid character '}' looking for beginning of object key string at offset 58"}}
{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":6,"msg_id":4,"code":12,"text":"malformed message: invalid character '}' in literal true at offset 66"}}
`,
			logs: []string{
				"malformed message: invalid character '}' looking for beginning of value at offset 50",
				"malformed message: missing body.type",
				"malformed message: body.type is not a string",
				"malformed message: body is not an object",
				"malformed message: missing body",
				"malformed message: invalid character '}' looking for beginning of object key string at offset 58",
				"malformed message: invalid character '}' in literal true at offset 66",
			},
		},
		{
			name: "malformed without src or msg_id: logged only",
			in: `{"dest":"lb","body":{"type":"echo","msg_id":1}}
{"src":"","dest":"lb","body":{"type":"echo","msg_id":1}}
{"src":7,"dest":"lb","body":{"type":"echo","msg_id":1}}
{"src":"c1","dest":"lb","body":{"type":}}
{"dest":"lb","body":{"msg_id":1,"type":}}
["src","c1"]
"hello"
xyz
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":0}}` + "\n",
			logs: []string{
				"ignored a message without src",
				"ignored a message without src",
				"ignored a message without src",
				"malformed message: invalid character '}'",
				"malformed message: invalid character '}'",
				"malformed message: not an object",
				"malformed message: not an object",
				"malformed message: invalid character 'x' looking for beginning of value at offset 0",
			},
		},
		{
			name: "replies are never answered",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,"in_reply_to":4}}
{"src":"c1","dest":"lb","body":{"type":"error","msg_id":2,"code":10}}
{"src":"c1","dest":"lb","body":{"type":"read_ok","msg_id":3}}
{"src":"c1","dest":"lb","body":{"msg_id":4,"in_reply_to":1}}
{"src":"c1","dest":"lb","body":{"msg_id":5,"type":"echo_ok","x":}}
{"src":"c1","dest":"lb","body":{"msg_id":6,"in_reply_to":1,"x":}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":7}}
`,
			out:  `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":7,"msg_id":0}}` + "\n",
			logs: []string{"ignored a reply", "ignored a reply", "ignored a reply", "ignored a reply", "ignored a reply", "ignored a reply"},
		},
		{
			name: "unknown fields ignored, duplicate keys: the last wins",
			in:   `{"x":{"src":"no"},"src":"c0","src":"c1","dest":"lb","body":{"type":"quiet","type":"echo","msg_id":1,"msg_id":2,"extra":[1,{}]},"more":null}` + "\n",
			out:  `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":0}}` + "\n",
		},
		{
			name: "blank lines, CRLF and a last line without newline",
			in:   "\n   \n\t\r\n" + `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1}}` + "\r\n\r\n" + `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1}}
`,
		},
		{
			name: "two objects on a line",
			in:   `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1}}{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}  {"src":"c1","dest":"lb","body":{"type":"echo","msg_id":3}}` + "\n",
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":3,"msg_id":2}}
`,
		},
		{
			name: "an object spanning lines",
			in: `{
  "src": "c1",
  "dest": "lb",
  "body": {
    "type": "echo",
    "msg_id": 1,
    "echo": [1,
             2]
  }
}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0,"echo":[1,2]}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1}}
`,
		},
		{
			name: "a broken line does not swallow the next",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":3}} {"src":"c1","body":[
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":4}}
[
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":5}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":12,"text":"malformed message: invalid character '{' looking for beginning of object key string at offset 58"}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":3,"msg_id":2}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":4,"msg_id":3}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":5,"msg_id":4}}
`,
			logs: []string{
				"malformed message: invalid character '{' looking for beginning of object key string at offset 58",
				"malformed message: invalid character '[' after array element at offset 80",
				"malformed message: unexpected end of input",
			},
		},
		{
			// The msg_id "value" that completes the broken line is the
			// next message: it is answered as itself, the broken line
			// not at all.
			name: "a broken line's msg_id does not run into the next line",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":0}}
`,
			logs: []string{"malformed message: unexpected end of input"},
		},
		{
			name: "garbage after a message on its line",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1}} }{
{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2}}
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0}}
{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1}}
`,
			logs: []string{"malformed message: invalid character '}' looking for beginning of value at offset 0"},
		},
		{
			name: "unfinished at end of input",
			in:   `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,"echo":[1,` + "\n",
			out:  `{"src":"lb","dest":"c1","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":12,"text":"malformed message: unexpected end of input"}}` + "\n",
			logs: []string{"malformed message: unexpected end of input"},
		},
		{
			// Longer than the message before it, so that moving it to the
			// front of the buffer before the last read overwrites it.
			name: "unfinished at end of input, after a message",
			in: `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1}}
{"src":"c2","dest":"lb","body":{"type":"echo","msg_id":2,"echo":"` + strings.Repeat("x", 100) + `",
`,
			out: `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0}}
{"src":"lb","dest":"c2","body":{"type":"error","in_reply_to":2,"msg_id":1,"code":12,"text":"malformed message: unexpected end of input"}}
`,
			logs: []string{`malformed message: unexpected end of input: "{\"src\":\"c2\"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, logs := run(t, tt.in)
			if out != tt.out {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.out)
			}
			rest := logs
			for _, want := range tt.logs {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Errorf("logs lack %q (in order):\n%s", want, logs)
					break
				}
				rest = rest[i+len(want):]
			}
			if tt.logs == nil && logs != "" {
				t.Errorf("unexpected logs:\n%s", logs)
			}
		})
	}
}

func TestInitHandler(t *testing.T) {
	tests := []struct {
		name string
		err  error
		out  string
	}{
		{"ok", nil, `{"src":"lb","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}` + "\n"},
		{"error", NewRPCError(TemporarilyUnavailable, "not yet"),
			`{"src":"lb","dest":"c0","body":{"type":"error","in_reply_to":1,"msg_id":0,"code":11,"text":"not yet"}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := NewNode(strings.NewReader(initLine), &out, nil)
			var seen string
			n.Handle("init", func(m *Message) error {
				seen = n.ID() + " " + strings.Join(n.NodeIDs(), ",")
				return tt.err
			})
			if err := n.Run(); err != nil {
				t.Fatal(err)
			}
			if seen != "lb lb,s1,s2" {
				t.Errorf("init handler saw %q, want the stored ids", seen)
			}
			if out.String() != tt.out {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.out)
			}
		})
	}
}

func TestNodeIDsIsACopy(t *testing.T) {
	n := NewNode(strings.NewReader(initLine), io.Discard, nil)
	if n.ID() != "" || n.NodeIDs() != nil {
		t.Errorf("before init: ID %q, NodeIDs %q", n.ID(), n.NodeIDs())
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	n.NodeIDs()[0] = "changed"
	if got := n.NodeIDs(); got[0] != "lb" {
		t.Errorf("NodeIDs()[0] = %q after changing a copy", got[0])
	}
}

func TestHandlePanics(t *testing.T) {
	tests := []struct {
		typ  string
		fn   HandlerFunc
		want string
	}{
		{"echo", nil, "maelstrom: nil handler for echo"},
		{"echo", func(*Message) error { return nil }, "maelstrom: multiple handlers for echo"},
		{"echo_ok", func(*Message) error { return nil }, "maelstrom: echo_ok is a reply type, never dispatched"},
		{"error", func(*Message) error { return nil }, "maelstrom: error is a reply type, never dispatched"},
	}
	for _, tt := range tests {
		n := NewNode(strings.NewReader(""), io.Discard, nil)
		n.Handle("echo", func(*Message) error { return nil })
		func() {
			defer func() {
				if p := recover(); p != tt.want {
					t.Errorf("Handle(%q) panicked with %v, want %q", tt.typ, p, tt.want)
				}
			}()
			n.Handle(tt.typ, tt.fn)
		}()
	}
}

func TestRPCError(t *testing.T) {
	tests := []struct {
		err  *RPCError
		want string
	}{
		{NewRPCError(Timeout, "slow"), "timeout: slow"},
		{NewRPCError(TxnConflict, "busy"), "txn-conflict: busy"},
		{NewRPCError(1000, "custom"), "error 1000: custom"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestReplyWithoutSrc(t *testing.T) {
	n := NewNode(strings.NewReader(""), io.Discard, nil)
	if err := n.Reply(&Message{Type: "echo"}, "echo_ok", nil); err == nil {
		t.Error("Reply to a message without src succeeded")
	}
}

func TestLongMessage(t *testing.T) {
	payload := strings.Repeat("abcdefghij", 1<<20) // 10 MiB
	in := initLine +
		`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":2,"echo":"` + payload + `"}}` + "\n" +
		`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":3}}` + "\n"
	out, logs := run(t, in)
	want := initOK +
		`{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":2,"msg_id":1,"echo":"` + payload + `"}}` + "\n" +
		`{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":3,"msg_id":2}}` + "\n"
	if out != want {
		t.Errorf("output of %d bytes differs from the %d bytes wanted", len(out), len(want))
	}
	if logs != "" {
		t.Errorf("logs: %s", logs)
	}
}

func TestLongPrettyMessage(t *testing.T) {
	// One element per line: a node that rescanned the whole message after
	// each line would take minutes.
	var in strings.Builder
	in.WriteString(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,"echo":[` + "\n")
	const lines = 200000
	for i := range lines {
		fmt.Fprintf(&in, "%d,\n", i)
	}
	in.WriteString("0]}}\n")
	out, _ := run(t, in.String())
	if !strings.HasPrefix(out, `{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":1,"msg_id":0,"echo":[0,1,2,`) ||
		!strings.HasSuffix(out, ",199999,0]}}\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("unexpected output: %.100s...", out)
	}
}

// TestFlushWhenIdle checks that a reply is delivered while the input is
// still open, as soon as the node has nothing more to read.
func TestFlushWhenIdle(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	n := newTestNode(inR, outW, nil)
	done := make(chan error, 1)
	go func() { done <- n.Run() }()
	replies := bufio.NewReader(outR)
	for i := range 3 {
		fmt.Fprintf(inW, `{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":%d}}`+"\n", i)
		got := make(chan string, 1)
		go func() {
			line, _ := replies.ReadString('\n')
			got <- line
		}()
		want := fmt.Sprintf(`{"src":"lb","dest":"c1","body":{"type":"echo_ok","in_reply_to":%d,"msg_id":%d}}`+"\n", i, i)
		select {
		case line := <-got:
			if line != want {
				t.Fatalf("reply %q, want %q", line, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reply while the input is open")
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestIDConcurrent reads the node id while init changes it; run with -race.
func TestIDConcurrent(t *testing.T) {
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, `{"src":"c0","dest":"lb","body":{"type":"init","msg_id":%d,"node_id":"n%d","node_ids":["n%d"]}}`+"\n", i, i, i)
	}
	n := NewNode(strings.NewReader(in.String()), io.Discard, nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = n.ID(), n.NodeIDs()
			}
		}
	}()
	err := n.Run()
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if n.ID() != "n99" {
		t.Errorf("ID() = %q, want n99", n.ID())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

type failingReader struct{ data io.Reader }

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if err == io.EOF {
		return 0, errors.New("connection reset")
	}
	return n, err
}

func TestRunIOErrors(t *testing.T) {
	in := strings.Repeat(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1}}`+"\n", 10000)
	err := newTestNode(strings.NewReader(in), failingWriter{}, nil).Run()
	if err == nil || err.Error() != "disk full" {
		t.Errorf("Run with a failing output = %v, want disk full", err)
	}
	err = newTestNode(&failingReader{strings.NewReader(in)}, io.Discard, nil).Run()
	if err == nil || err.Error() != "connection reset" {
		t.Errorf("Run with a failing input = %v, want connection reset", err)
	}
}

// TestRunAllocs checks that handling a message allocates nothing once the
// node is warm.
func TestRunAllocs(t *testing.T) {
	const msgs = 20000
	in := initLine + strings.Repeat(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":1,"echo":"x"}}`+"\n", msgs)
	allocs := testing.AllocsPerRun(1, func() {
		if err := newTestNode(strings.NewReader(in), io.Discard, nil).Run(); err != nil {
			t.Fatal(err)
		}
	})
	// Creating the node and answering init allocate a few dozen times.
	if allocs > 50 {
		t.Errorf("%v allocations for %d messages", allocs, msgs)
	}
}

func TestIncrement(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0", "1"}, {"8", "9"}, {"9", "10"}, {"19", "20"}, {"99", "100"}, {"1099", "1100"},
		{"18446744073709551615", "18446744073709551616"},
	} {
		if got := string(increment([]byte(tt.in))); got != tt.want {
			t.Errorf("increment(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestReplyHeads checks the start of each reply as src, dest and type vary,
// including a type that aliases the input buffer, which the node must not
// keep a view of.
func TestReplyHeads(t *testing.T) {
	var out bytes.Buffer
	in := initLine +
		`{"src":"c1","dest":"lb","body":{"type":"as","msg_id":1,"as":"x_ok"}}` + "\n" +
		`{"src":"c1","dest":"lb","body":{"type":"as","msg_id":2,"as":"y_ok"}}` + "\n" +
		`{"src":"c22","dest":"lb","body":{"type":"as","msg_id":3,"as":"y_ok"}}` + "\n" +
		`{"src":"c22","dest":"lb","body":{"type":"echo","msg_id":4}}` + "\n"
	n := newTestNode(strings.NewReader(in), &out, nil)
	n.Handle("as", func(m *Message) error {
		return n.ReplyFields(m, stringValue(member(m.Body, "as")), noFields{})
	})
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"src":"lb","dest":"c0","body":{"type":"init_ok","in_reply_to":1,"msg_id":0}}`,
		`{"src":"lb","dest":"c1","body":{"type":"x_ok","in_reply_to":1,"msg_id":1}}`,
		`{"src":"lb","dest":"c1","body":{"type":"y_ok","in_reply_to":2,"msg_id":2}}`,
		`{"src":"lb","dest":"c22","body":{"type":"y_ok","in_reply_to":3,"msg_id":3}}`,
		`{"src":"lb","dest":"c22","body":{"type":"echo_ok","in_reply_to":4,"msg_id":4}}`,
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
