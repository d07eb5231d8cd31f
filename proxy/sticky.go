package proxy

import (
	"l7lb/engine"
	"l7lb/session"
)

// EngineOptions are the engine options of the HTTP face. signer signs the
// insert-mode cookie and the server hint cookie of the table modes, so a
// client cannot choose its server by forging either; session ids are 128
// random bits, which nobody can guess and which name no host.
func EngineOptions(signer *session.Signer) engine.Options {
	return engine.Options{Signer: signer, SignHints: true, NewSessionID: session.NewID}
}
