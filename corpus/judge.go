package corpus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A verdict lists what a client got for a case, in order, its items
// joined by " | ":
//
//	fwd METHOD TARGET N    a request the origin received, with a body of
//	                       N bytes, and whose answer the client got
//	NNN                    a response the proxy made itself, with its
//	                       status; nothing after it is read
//	backend-400            the origin could not parse what it was sent
//	unanswered METHOD ...  a request the origin received but whose answer
//	                       the client did not get
//	timeout                the proxy neither answered nor closed in time
//	reset                  the proxy reset the connection
//	none                   no response: the proxy closed without one
//
// Interim (1xx) responses are left out.
const sep = " | "

// Backend is the origin server cases are judged against. It reads requests
// with net/http's parser, strict enough to notice a proxy that forwards
// something unparsable, and answers each with an empty 200 whose X-Fwd
// field says what it received: "METHOD TARGET N".
type Backend struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	seen  []string // what it received, since the last take
	conns map[net.Conn]bool
}

// StartBackend starts a backend on a loopback port.
func StartBackend() (*Backend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{ln: ln, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go b.accept()
	return b, nil
}

// Addr returns the backend's host:port.
func (b *Backend) Addr() string { return b.ln.Addr().String() }

// Close stops the backend and closes its connections.
func (b *Backend) Close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Backend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = true
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(c)
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
			c.Close()
		}()
	}
}

func (b *Backend) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			// A connection the proxy closed, even mid-request, is no
			// parse error; anything else is.
			var ne net.Error
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &ne) &&
				!errors.Is(err, syscall.ECONNRESET) {
				b.record("backend-400")
				io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nX-Backend-Error: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}
			return
		}
		if req.Header.Get("Expect") == "100-continue" {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return // a body cut short: the proxy gave up on the request
		}
		fwd := req.Method + " " + req.RequestURI + " " + strconv.Itoa(len(body))
		b.record("fwd " + fwd)
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Fwd: "+fwd+"\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return
		}
	}
}

func (b *Backend) record(s string) {
	b.mu.Lock()
	b.seen = append(b.seen, s)
	b.mu.Unlock()
}

// take returns what the backend received since the last take.
func (b *Backend) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.seen
	b.seen = nil
	return s
}

// caseTime bounds the judging of one case.
const caseTime = 3 * time.Second

// ErrDesync reports a follow-up request that did not get its own answer:
// the case left something behind in the proxy or on a server connection
// that another client received.
var ErrDesync = errors.New("desync: the follow-up request did not get its own answer")

// Judge sends raw to the proxy at addr, whose servers are all b, half-closes
// the connection and returns the verdict on what came back. Then it sends a
// follow-up request, number n, on a new connection, and returns ErrDesync
// (with the verdict) when that one does not get its own answer.
func (b *Backend) Judge(addr string, raw []byte, n int) (string, error) {
	b.take()
	items, err := exchange(addr, raw)
	if err != nil {
		return "", err
	}
	follow := "/follow-up/" + strconv.Itoa(n)
	got, err := exchange(addr, []byte("GET "+follow+" HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n"))
	if err != nil {
		return "", err
	}
	// What the origin received for the case and the client did not see
	// answered: every request is accounted for.
	answered := map[string]int{}
	for _, it := range items {
		answered[it]++
	}
	for _, s := range b.take() {
		if strings.HasPrefix(s, "fwd GET "+follow+" ") {
			continue
		}
		if answered[s] > 0 {
			answered[s]--
			continue
		}
		if s == "backend-400" {
			items = append(items, s)
		} else {
			items = append(items, "unanswered"+strings.TrimPrefix(s, "fwd"))
		}
	}
	verdict := strings.Join(items, sep)
	if want := "fwd GET " + follow + " 0"; len(got) != 1 || got[0] != want {
		return verdict, fmt.Errorf("%w: got %q", ErrDesync, got)
	}
	return verdict, nil
}

// exchange sends raw on a new connection to addr, half-closes it and reads
// responses until the proxy closes, one it made itself, or caseTime.
func exchange(addr string, raw []byte) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, caseTime)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(caseTime))
	if _, err := c.Write(raw); err != nil {
		return []string{"write failed"}, nil
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var items []string
	for {
		status, fields, err := readHead(br)
		switch {
		case errors.Is(err, io.EOF) && status == 0:
			if len(items) == 0 {
				items = append(items, "none")
			}
			return items, nil
		case isTimeout(err):
			return append(items, "timeout"), nil
		case errors.Is(err, syscall.ECONNRESET):
			return append(items, "reset"), nil
		case err != nil:
			return append(items, "bad response: "+err.Error()), nil
		}
		switch {
		case status < 200:
			continue
		case fields["x-fwd"] != "":
			items = append(items, "fwd "+fields["x-fwd"])
			continue
		case fields["x-backend-error"] != "":
			continue // counted from the backend's side
		}
		items = append(items, strconv.Itoa(status))
		// Nothing after the proxy's own answer is read: it closes, and a
		// body to a HEAD cannot be told from what follows.
		if _, err := io.Copy(io.Discard, br); isTimeout(err) {
			items = append(items, "timeout")
		}
		return items, nil
	}
}

// readHead reads a response head and returns its status and its fields,
// names in lower case.
func readHead(br *bufio.Reader) (int, map[string]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		if line != "" && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return -1, nil, fmt.Errorf("status line %q", line)
	}
	fields := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return status, nil, io.ErrUnexpectedEOF
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return status, fields, nil
		}
		name, value, _ := strings.Cut(line, ":")
		fields[strings.ToLower(name)] = strings.TrimSpace(value)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
