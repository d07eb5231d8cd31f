package certs

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
)

// MaxTicketKeys bounds a session ticket key file: each key is tried in turn
// on a ticket that the first did not encrypt.
const MaxTicketKeys = 64

// ParseTicketKeys parses a session ticket key file (docs/config.md):
// one key per line, the standard base64 of 32 random bytes (what
// `openssl rand -base64 32` prints). The first key encrypts new tickets;
// every key decrypts. Blank lines and lines starting with # are ignored.
// Errors name the line but never show key material.
func ParseTicketKeys(data []byte) ([][32]byte, error) {
	var keys [][32]byte
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// 32 bytes are 44 base64 characters; a line of another length is
		// not decoded (it could be anything: a private key pasted here).
		var key [32]byte
		var buf [33]byte // DecodedLen(44): Decode may write that many
		if len(line) != base64.StdEncoding.EncodedLen(len(key)) {
			return nil, fmt.Errorf("line %d: want 44 characters, the base64 of 32 bytes (openssl rand -base64 32)", n+1)
		}
		if k, err := base64.StdEncoding.Decode(buf[:], line); err != nil || k != len(key) {
			return nil, fmt.Errorf("line %d: not the base64 of 32 bytes (openssl rand -base64 32)", n+1)
		}
		copy(key[:], buf[:])
		if len(keys) == MaxTicketKeys {
			return nil, fmt.Errorf("line %d: more than %d keys", n+1, MaxTicketKeys)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key (want one base64 key of 32 bytes per line; openssl rand -base64 32)")
	}
	return keys, nil
}

// ticketFile is a session ticket key file and the TLS configuration whose
// keys it sets. Only the store's loop refreshes it.
type ticketFile struct {
	name    string
	conf    *tls.Config
	data    []byte // contents last parsed
	readErr string // last failure to read, reported once
}

// load sets the keys from the file, or fails.
func (t *ticketFile) load() error {
	data, err := os.ReadFile(t.name)
	if err != nil {
		return err
	}
	keys, err := ParseTicketKeys(data)
	if err != nil {
		return fmt.Errorf("%s: %v", t.name, err)
	}
	t.data = data
	t.conf.SetSessionTicketKeys(keys)
	return nil
}

// refresh sets the keys again when the file changed and is good; the
// previous keys stay otherwise, and the problem is logged.
func (t *ticketFile) refresh(logf func(string, ...any)) {
	data, err := os.ReadFile(t.name)
	if err != nil {
		if msg := err.Error(); msg != t.readErr {
			t.readErr = msg
			logf("certs: %v; still using the previous session ticket keys", err)
		}
		return
	}
	t.readErr = ""
	if bytes.Equal(data, t.data) {
		return
	}
	t.data = data
	keys, err := ParseTicketKeys(data)
	if err != nil {
		logf("certs: %s: %v; still using the previous session ticket keys", t.name, err)
		return
	}
	t.conf.SetSessionTicketKeys(keys)
	logf("certs: loaded %d session ticket keys from %s", len(keys), t.name)
}
