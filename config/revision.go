package config

// Revision identifies a configuration: N counts the configurations
// accepted in this process, from 1; Hash is the first 16 hex digits of the
// SHA-256 of the canonical normalised configuration, the same for the same
// content on every instance.
type Revision struct {
	N    uint64
	Hash string
}
