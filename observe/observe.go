// Package observe is what a frontend reports of each request it served, for
// the metrics to count and the access log to write: one Exchange per
// request, filled by whichever face served it (the HTTP/1.1 proxy, the
// HTTP/2 one) and handed to one function, so that every face is counted and
// logged the same way.
package observe

import (
	"time"

	"l7lb/engine"
)

// Exchange is what happened to one request. Strings may alias the
// frontend's buffers: they are valid only until the call it is handed to
// returns.
type Exchange struct {
	// Where it went: indexes into the names of engine.Engine.Names, -1
	// for none (no route matched, no server was chosen).
	Route, Server int
	// Their names, for the access log; "" for none.
	RouteName, ServerName string

	Status   int           // the final status sent to the client; 0 for none
	Start    time.Time     // when its first byte was read
	Duration time.Duration // from Start to the end of the response

	// Bytes from and to the client, heads included.
	Received, Sent int64

	// Connect is the time spent dialing the server connection that served
	// it, -1 when a pooled one did or none was used; Upstream is the time
	// from the request sent to the response head, -1 when no response head
	// came.
	Connect, Upstream time.Duration
	Retries           int // attempts after the first
	Sticky            engine.Sticky

	// What the access log writes as received: the method ("" when the
	// head could not be parsed), request-target, protocol version, Host,
	// User-Agent and Referer.
	Method, Target, Proto, Host, UserAgent, Referer string

	Client string // the client's IP address
	// RequestID is the X-Request-Id sent to the server: the client's, or
	// the generated one (IDPrefix followed by ID in decimal, which costs
	// no allocation to carry).
	RequestID string
	IDPrefix  string
	ID        uint64
	// TraceID is the W3C trace id of the request's span, "" when it was
	// not traced.
	TraceID string
}

// Method is a request method's class, a bounded set for metric labels:
// the methods of RFC 9110 and PATCH, then Other.
type Method uint8

// The method classes, as OpenTelemetry's http.request.method names them.
const (
	MethodGet Method = iota
	MethodHead
	MethodPost
	MethodPut
	MethodDelete
	MethodConnect
	MethodOptions
	MethodTrace
	MethodPatch
	MethodOther
	NumMethods
)

var methodNames = [NumMethods]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"}

func (m Method) String() string { return methodNames[m] }

// MethodOf returns the class of method; case matters (RFC 9110 9.1), so
// "get" is MethodOther, and "" (a head that did not parse) is too.
func MethodOf(method string) Method {
	switch method {
	case "GET":
		return MethodGet
	case "HEAD":
		return MethodHead
	case "POST":
		return MethodPost
	case "PUT":
		return MethodPut
	case "DELETE":
		return MethodDelete
	case "CONNECT":
		return MethodConnect
	case "OPTIONS":
		return MethodOptions
	case "TRACE":
		return MethodTrace
	case "PATCH":
		return MethodPatch
	}
	return MethodOther
}
