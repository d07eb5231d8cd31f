package maelstrom

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"l7lb/jsonx"
)

// FuzzNode feeds arbitrary bytes to a node: it must not panic and must write
// only well-formed messages. Then it feeds N well-formed requests built from
// the fuzz values, alone and after the arbitrary bytes: each must get
// exactly one reply, in order.
func FuzzNode(f *testing.F) {
	f.Add([]byte(initLine), "c1", "hello", uint8(3))
	f.Add([]byte(`{"src":"c1","body":{"type":"echo","msg_id":1,`), "c\n\"", "\xff<&>", uint8(1))
	f.Add([]byte("[\n{\"src\":\"x\",\"body\":{\n"), "", "", uint8(0))
	f.Add([]byte(`{"src":"c1","dest":"lb","body":{"type":"echo","msg_id":{"a":`), "s", "\u2028", uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, src, payload string, count uint8) {
		out, _ := run(t, string(data))
		checkOutput(t, out)

		// Replies to these requests are told apart by their in_reply_to,
		// echoed as written: "fuzz-<i>".
		src = "c" + src // a message without src is never answered
		var good strings.Builder
		n := int(count%16) + 1
		for i := range n {
			fmt.Fprintf(&good, `{"src":%s,"dest":"lb","body":{"type":"echo","msg_id":"fuzz-%d","echo":%s}}`+"\n",
				jsonx.AppendString(nil, src), i, jsonx.AppendString(nil, payload))
		}
		want := func(out string) {
			t.Helper()
			got := 0
			for _, line := range strings.SplitAfter(out, "\n") {
				body := member([]byte(line), "body")
				irt := string(member(body, "in_reply_to"))
				if !strings.HasPrefix(irt, `"fuzz-`) {
					continue
				}
				if irt != fmt.Sprintf(`"fuzz-%d"`, got) {
					t.Fatalf("reply %d is to %s:\n%s", got, irt, out)
				}
				dest, _ := jsonx.StringView(member([]byte(line), "dest"))
				echo, _ := jsonx.StringView(member(body, "echo"))
				if dest != string([]rune(src)) || echo != string([]rune(payload)) {
					t.Fatalf("reply %d goes to %q and echoes %q, want %q and %q", got, dest, echo, src, payload)
				}
				got++
			}
			if got != n {
				t.Fatalf("%d replies to %d requests:\n%s", got, n, out)
			}
		}
		out, _ = run(t, initLine+good.String())
		checkOutput(t, out)
		want(out)

		// Whatever the bytes leave unfinished must not swallow a request
		// (unless they hold requests looking like ours).
		if !bytes.Contains(data, []byte("fuzz-")) {
			out, _ = run(t, initLine+string(data)+"\n"+good.String())
			checkOutput(t, out)
			want(out)
		}
	})
}

// checkOutput checks that every line of out is one compact message with a
// string src and dest, a body with a string type, and the next msg_id.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	if out == "" {
		return
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i, line := range lines {
		raw := []byte(line)
		if !jsonx.Valid(raw) || !bytes.Equal(jsonx.AppendCompact(nil, raw), raw) {
			t.Fatalf("line %d is not compact JSON: %q", i, line)
		}
		body := member(raw, "body")
		if !strings.HasPrefix(line, `{"src":"`) || jsonx.KindOf(member(raw, "dest")) != jsonx.String ||
			!bytes.HasPrefix(body, []byte(`{"type":"`)) {
			t.Fatalf("line %d is not a message: %q", i, line)
		}
		if id := string(member(body, "msg_id")); id != fmt.Sprint(i) {
			t.Fatalf("line %d has msg_id %s: %q", i, id, line)
		}
	}
}
