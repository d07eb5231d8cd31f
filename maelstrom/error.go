package maelstrom

import "strconv"

// The standard Maelstrom error codes.
const (
	Timeout                = 0  // the request may or may not have happened
	NodeNotFound           = 1  // the destination node does not exist
	NotSupported           = 10 // the message type is not supported
	TemporarilyUnavailable = 11 // the operation cannot be done right now
	MalformedRequest       = 12 // the request is invalid
	Crash                  = 13 // the node failed while handling the request
	Abort                  = 14 // the operation was aborted
	KeyDoesNotExist        = 20
	KeyAlreadyExists       = 21
	PreconditionFailed     = 22
	TxnConflict            = 30
)

var codeNames = map[int]string{
	Timeout:                "timeout",
	NodeNotFound:           "node-not-found",
	NotSupported:           "not-supported",
	TemporarilyUnavailable: "temporarily-unavailable",
	MalformedRequest:       "malformed-request",
	Crash:                  "crash",
	Abort:                  "abort",
	KeyDoesNotExist:        "key-does-not-exist",
	KeyAlreadyExists:       "key-already-exists",
	PreconditionFailed:     "precondition-failed",
	TxnConflict:            "txn-conflict",
}

// An RPCError is a Maelstrom error reply. A handler that returns one (or an
// error wrapping one) gets an "error" reply with its Code and Text; any code
// can be used, 0 (Timeout) included.
type RPCError struct {
	Code int
	Text string
}

// NewRPCError returns an RPCError with the given code and text.
func NewRPCError(code int, text string) *RPCError {
	return &RPCError{Code: code, Text: text}
}

// Error returns the code's name and the text, e.g.
// "malformed-request: node_id: expected a non-empty string".
func (e *RPCError) Error() string {
	name, ok := codeNames[e.Code]
	if !ok {
		name = "error " + strconv.Itoa(e.Code)
	}
	return name + ": " + e.Text
}
