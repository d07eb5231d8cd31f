// Package strview turns bytes into a string without copying them: the one
// place in l7lb that does.
//
// The faces parse requests in place: the Maelstrom node reads a message's
// strings out of the line it read, the proxy a request head out of the
// buffer it read it into. Copying each string would cost an allocation per
// field; a view costs nothing, at the price of a lifetime rule.
//
// # Lifetime
//
// A string from [Of] shares its bytes with the slice. It is valid only
// while those bytes do not change: the buffer it came from must be neither
// written to nor reused (for the next message, the next request) while the
// string, or any substring of it, is in use. Code that keeps such a string
// past that point (in a map, a table, state that outlives the request) must
// copy it first (strings.Clone). engine.Request documents what this means
// for the strings a decision reads.
package strview

import "unsafe"

// Of returns the bytes of b as a string, without copying: see the package
// documentation for how long the string is valid.
func Of(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
