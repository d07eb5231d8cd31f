package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gRPC through l7lb serve with real gRPC clients and servers
// (google.golang.org/grpc, a test-only dependency), without generated
// code: messages are raw bytes (rawCodec) and the service is described by
// hand (echoDesc).

// rawCodec passes messages as they are: a message is a *[]byte.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

type echoService interface{}

// echoServer is a gRPC server that names itself in every reply.
type echoServer struct {
	name string
	mu   sync.Mutex
	md   []metadata.MD // the metadata of each call
	// deadline is the time left to the last call, when it had one.
	deadline time.Duration
	// cancelled receives a call whose context ended before its reply.
	cancelled chan string
}

func (s *echoServer) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.md = append(s.md, md)
	s.deadline = 0
	if d, ok := ctx.Deadline(); ok {
		s.deadline = time.Until(d)
	}
	s.mu.Unlock()
}

func (s *echoServer) lastMD() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.md[len(s.md)-1]
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "l7lb.test.Echo",
	HandlerType: (*echoService)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		s := srv.(*echoServer)
		s.record(ctx)
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		switch string(in) {
		case "fail":
			return nil, status.Error(codes.NotFound, "no such thing")
		case "slow":
			select {
			case <-ctx.Done():
				s.cancelled <- "slow"
				return nil, ctx.Err()
			case <-time.After(5 * time.Second):
			}
		}
		out := []byte(s.name + ":" + string(in))
		return &out, nil
	}}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(srv any, st grpc.ServerStream) error {
			s := srv.(*echoServer)
			s.record(st.Context())
			var in []byte
			if err := st.RecvMsg(&in); err != nil {
				return err
			}
			for i := range 5 {
				out := []byte(fmt.Sprintf("%s:%s:%d", s.name, in, i))
				if err := st.SendMsg(&out); err != nil {
					return err
				}
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(srv any, st grpc.ServerStream) error {
			s := srv.(*echoServer)
			s.record(st.Context())
			var all []string
			for {
				var in []byte
				err := st.RecvMsg(&in)
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				all = append(all, string(in))
			}
			out := []byte(s.name + ":" + strings.Join(all, ","))
			return st.SendMsg(&out)
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(srv any, st grpc.ServerStream) error {
			s := srv.(*echoServer)
			s.record(st.Context())
			for {
				var in []byte
				err := st.RecvMsg(&in)
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				out := []byte(s.name + ":" + string(in))
				if err := st.SendMsg(&out); err != nil {
					return err
				}
			}
		}},
	},
}

// startGRPC starts a gRPC server called name on a loopback port, over TLS
// when creds is not nil, until the test ends.
func startGRPC(t *testing.T, name string, creds credentials.TransportCredentials) (*echoServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{grpc.ForceServerCodec(rawCodec{})}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	es := &echoServer{name: name, cancelled: make(chan string, 4)}
	srv.RegisterService(&echoDesc, es)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return es, ln.Addr().String()
}

// grpcClient connects to addr (through the proxy) as authority.
func grpcClient(t *testing.T, addr, authority string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithAuthority(authority),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func unary(ctx context.Context, cc *grpc.ClientConn, msg string, opts ...grpc.CallOption) (string, error) {
	in, out := []byte(msg), []byte(nil)
	err := cc.Invoke(ctx, "/l7lb.test.Echo/Unary", &in, &out, opts...)
	return string(out), err
}

// TestGRPC runs unary, server-streaming, client-streaming and
// bidirectional calls through the proxy, over h2c and TLS listeners, to
// h2c:// and https:// gRPC servers; errors keep their status (the
// grpc-status trailer), deadlines pass and cancel the server's call, and
// calls are sticky by cookie or hashed by a header across two servers.
func TestGRPC(t *testing.T) {
	dir := t.TempDir()
	roots := selfSigned(t, dir, "edge", "default.grpc", "tls.grpc")
	selfSigned(t, dir, "backend", "grpc.internal")
	g1, a1 := startGRPC(t, "g1", nil)
	g2, a2 := startGRPC(t, "g2", nil)
	backendCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "backend.pem"), filepath.Join(dir, "backend-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	_, a3 := startGRPC(t, "g3", credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{backendCert}}))

	p, addrs := startServeDoc(t, dir, 2, func(addrs []string) string {
		return fmt.Sprintf(`listeners:
  - {address: %q, h2c: true}
  - address: %q
    tls: {certificates: [{cert: edge.pem, key: edge-key.pem}]}
servers:
  g1: h2c://%s
  g2: h2c://%s
  g3: {url: "https://%s", tls: {ca: backend.pem, server_name: grpc.internal}}
routes:
  - {name: sticky, host: sticky.grpc, servers: [g1, g2]}
  - {name: hashed, host: hash.grpc, servers: [g1, g2], balance: hash, hash_on: "header:x-user", sticky: false}
  - {name: tls, host: tls.grpc, servers: [g3]}
default_servers: [g1]
sticky: {secret: grpc-secret}
timeouts: {response_header: 1s}
`, addrs[0], addrs[1], a1, a2, a3)
	}, serveOpts{})
	_ = p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, via := range []struct {
		name string
		addr string
		tls  bool
	}{{"h2c", addrs[0], false}, {"tls", addrs[1], true}} {
		for _, authority := range []string{"default.grpc", "tls.grpc"} {
			var creds credentials.TransportCredentials
			if via.tls {
				creds = credentials.NewTLS(tlsTo(roots, authority))
			}
			cc := grpcClient(t, via.addr, authority, creds)
			want := "g1"
			if authority == "tls.grpc" {
				want = "g3"
			}
			name := via.name + " " + authority
			if got, err := unary(ctx, cc, "hi"); err != nil || got != want+":hi" {
				t.Errorf("%s: unary: %q, %v", name, got, err)
			}
			// Server streaming.
			st, err := cc.NewStream(ctx, &echoDesc.Streams[0], "/l7lb.test.Echo/ServerStream")
			if err != nil {
				t.Fatal(err)
			}
			in := []byte("s")
			st.SendMsg(&in)
			st.CloseSend()
			var got []string
			for {
				var out []byte
				if err := st.RecvMsg(&out); err != nil {
					if err != io.EOF {
						t.Errorf("%s: server stream: %v", name, err)
					}
					break
				}
				got = append(got, string(out))
			}
			if strings.Join(got, " ") != fmt.Sprintf("%[1]s:s:0 %[1]s:s:1 %[1]s:s:2 %[1]s:s:3 %[1]s:s:4", want) {
				t.Errorf("%s: server stream: %v", name, got)
			}
			// Client streaming.
			st, err = cc.NewStream(ctx, &echoDesc.Streams[1], "/l7lb.test.Echo/ClientStream")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"a", "b", "c"} {
				in := []byte(m)
				st.SendMsg(&in)
				time.Sleep(10 * time.Millisecond)
			}
			st.CloseSend()
			var out []byte
			if err := st.RecvMsg(&out); err != nil || string(out) != want+":a,b,c" {
				t.Errorf("%s: client stream: %q, %v", name, out, err)
			}
			// Bidirectional, one message at a time.
			st, err = cc.NewStream(ctx, &echoDesc.Streams[2], "/l7lb.test.Echo/Bidi")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"x", "y", "z"} {
				in := []byte(m)
				if err := st.SendMsg(&in); err != nil {
					t.Fatal(err)
				}
				var out []byte
				if err := st.RecvMsg(&out); err != nil || string(out) != want+":"+m {
					t.Errorf("%s: bidi %s: %q, %v", name, m, out, err)
				}
			}
			st.CloseSend()
			if err := st.RecvMsg(new([]byte)); err != io.EOF {
				t.Errorf("%s: bidi end: %v", name, err)
			}
			// A status other than OK passes in the trailers.
			if _, err := unary(ctx, cc, "fail"); status.Code(err) != codes.NotFound || status.Convert(err).Message() != "no such thing" {
				t.Errorf("%s: fail: %v", name, err)
			}
		}
	}

	// Deadlines: grpc-timeout reaches the server, and when the deadline
	// passes the server's call is cancelled.
	cc := grpcClient(t, addrs[0], "default.grpc", nil)
	// Connected first, so that the deadline measures the call alone, not
	// a TLS handshake slowed down by the race detector on a busy machine.
	if _, err := unary(ctx, cc, "warm"); err != nil {
		t.Fatalf("deadlines: a first call: %v", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	start := time.Now()
	_, err = unary(dctx, cc, "slow")
	dcancel()
	if status.Code(err) != codes.DeadlineExceeded || time.Since(start) > 4*time.Second {
		t.Errorf("slow call with a 2.5s deadline (over the 1s response_header timeout): %v after %v", err, time.Since(start))
	}
	g1.mu.Lock()
	left := g1.deadline
	g1.mu.Unlock()
	if left <= time.Second || left > 2500*time.Millisecond {
		t.Errorf("the server's call had %v left, want the client's deadline (grpc-timeout) of 2.5s", left)
	}
	select {
	case <-g1.cancelled:
	case <-time.After(3 * time.Second):
		t.Error("the server's call was not cancelled when the deadline passed")
	}
	if md := g1.lastMD(); len(md.Get("x-forwarded-for")) != 1 || len(md.Get("x-request-id")) != 1 {
		t.Errorf("forwarding fields at the server: %v", md)
	}

	// Sticky by cookie: the cookie the first call gets keeps later calls
	// on its server.
	cc = grpcClient(t, addrs[0], "sticky.grpc", nil)
	var header metadata.MD
	first, err := unary(ctx, cc, "1", grpc.Header(&header))
	if err != nil || len(header.Get("set-cookie")) != 1 {
		t.Fatalf("sticky: %q %v, header %v", first, err, header)
	}
	cookie := strings.SplitN(header.Get("set-cookie")[0], ";", 2)[0]
	server := strings.Split(first, ":")[0]
	for i := range 10 {
		got, err := unary(metadata.AppendToOutgoingContext(ctx, "cookie", cookie), cc, "n")
		if err != nil || !strings.HasPrefix(got, server+":") {
			t.Errorf("sticky call %d: %q, %v; want %s", i, got, err, server)
		}
	}

	// Hash on a header: each user stays on one server, and both servers
	// get users.
	cc = grpcClient(t, addrs[0], "hash.grpc", nil)
	seen := map[string]string{}
	for i := range 40 {
		user := fmt.Sprintf("user-%d", i%8)
		got, err := unary(metadata.AppendToOutgoingContext(ctx, "x-user", user), cc, "h")
		if err != nil {
			t.Fatal(err)
		}
		srv := strings.Split(got, ":")[0]
		if prev, ok := seen[user]; ok && prev != srv {
			t.Errorf("%s went to %s, then %s", user, prev, srv)
		}
		seen[user] = srv
	}
	servers := map[string]bool{}
	for _, s := range seen {
		servers[s] = true
	}
	if !servers["g1"] || !servers["g2"] {
		t.Errorf("8 users hashed onto %v only", servers)
	}
	_ = g2
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
	os.Remove(filepath.Join(dir, "nothing"))
}
