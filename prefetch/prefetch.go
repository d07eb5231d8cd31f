// Package prefetch asks the processor to start loading a cache line without
// waiting for it: the one place in l7lb that does.
//
// A lookup in a table much larger than the cache misses it at every step,
// and a step's address often follows from the request alone. Where a face
// holds several requests at once (the node reads its input in large
// chunks), it can name the lines of the next requests while it decides the
// current one, so that their misses overlap instead of following one
// another (group prefetching, as databases and packet processors do).
package prefetch
