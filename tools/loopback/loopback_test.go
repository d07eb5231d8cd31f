package loopback

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestFreeAddrAndWait(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %s, want one on 127.0.0.1", addr)
	}
	if err := WaitListening(addr, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "nothing listens on "+addr) {
		t.Errorf("before listening: error %v, want one naming %s", err, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := WaitListening(addr, 5*time.Second); err != nil {
		t.Errorf("listening: %v", err)
	}
}
