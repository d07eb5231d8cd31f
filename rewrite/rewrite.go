// Package rewrite implements the URL rewrite rules of a route (see
// docs/protocol.md, "URL rewriting"): strip_prefix, replace_prefix, regex and
// replace_path.
//
// A rule works on a path already normalized by [urlpath.Normalize] and
// re-attaches the request's query untouched. Whatever the rule, the result
// starts with '/', holds no "//" and is never empty.
package rewrite

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"l7lb/urlpath"
)

type kind uint8

const (
	stripPrefix kind = iota + 1
	replacePrefix
	regex
	replacePath
)

// A Rule is one compiled rewrite rule. It is immutable and safe for
// concurrent use. A nil *Rule rewrites nothing.
type Rule struct {
	kind kind
	// from is the prefix of strip_prefix and replace_prefix without its
	// trailing slash, so "" stands for "/" (which every path starts with).
	from string
	// to is the replacement prefix of replace_prefix, likewise without a
	// trailing slash, or the path of replace_path as given.
	to   string
	re   *regexp.Regexp
	repl string
	// src holds the arguments as given, for String.
	src [2]string
}

// Errors returned by the constructors. Their texts name the problem but not
// the field: the caller prefixes the field path.
var (
	errSlash      = errors.New("must start with /")
	errQuery      = errors.New("must not contain ? or #")
	errNormalized = errors.New("must be a normalized path")
)

// checkPath validates a prefix or path given to a constructor: it must be
// what urlpath.Normalize makes of a request path, or no request path could
// ever be compared with it byte for byte.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errSlash
	}
	if strings.ContainsAny(p, "?#") {
		return errQuery
	}
	n, err := urlpath.Normalize(p)
	if err != nil {
		// An invalid byte or escape: its text says which and where.
		return err
	}
	if n != p {
		return errNormalized
	}
	return nil
}

// trimSlash drops a trailing slash so that "/api/" and "/api" name the same
// prefix, and "/" becomes "", the prefix of every path.
func trimSlash(p string) string {
	return strings.TrimSuffix(p, "/")
}

// StripPrefix returns a rule that removes prefix from paths that start with
// it on a segment boundary: with prefix "/api", "/api/users" becomes "/users"
// and "/api" becomes "/", while "/apiary" is left alone. A trailing slash on
// prefix is ignored; the prefix "/" changes nothing.
func StripPrefix(prefix string) (*Rule, error) {
	if err := checkPath(prefix); err != nil {
		return nil, err
	}
	return &Rule{kind: stripPrefix, from: trimSlash(prefix), src: [2]string{prefix}}, nil
}

// ReplacePrefix returns a rule that replaces from by to in paths that start
// with from on a segment boundary: with from "/api" and to "/v2",
// "/api/users" becomes "/v2/users" and "/api" becomes "/v2". A trailing slash
// on either is ignored, so the result never holds "//"; from "/" puts to in
// front of every path.
func ReplacePrefix(from, to string) (*Rule, error) {
	if err := checkPath(from); err != nil {
		return nil, err
	}
	if err := checkPath(to); err != nil {
		return nil, err
	}
	return &Rule{kind: replacePrefix, from: trimSlash(from), to: trimSlash(to), src: [2]string{from, to}}, nil
}

// Regex returns a rule that replaces the first match of the RE2 expression
// pattern in the path by replacement, in which $1 and ${name} are expanded as
// by [regexp.Regexp.Expand]. A path that does not match is left alone. The
// result gets a leading '/' if it lacks one, repeated slashes are merged and
// an empty result becomes "/". The error, if any, is the one of
// [regexp.Compile].
func Regex(pattern, replacement string) (*Rule, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return &Rule{kind: regex, re: re, repl: replacement, src: [2]string{pattern, replacement}}, nil
}

// ReplacePath returns a rule that replaces every path by path. A trailing
// slash is kept: "/x/" and "/x" are different paths.
func ReplacePath(path string) (*Rule, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	return &Rule{kind: replacePath, to: path, src: [2]string{path}}, nil
}

// Apply rewrites path, which must be normalized (the result of
// urlpath.Normalize), and re-attaches query, which carries its own '?' or is
// "". Apply does not allocate when query is "" and the result is path, a part
// of it (strip_prefix, replace_prefix to "/") or the path of replace_path;
// otherwise see AppendApply.
func (r *Rule) Apply(path, query string) string {
	if r != nil && r.kind == regex {
		m := r.re.FindStringSubmatchIndex(path)
		if m == nil {
			return path + query
		}
		return string(r.expand(make([]byte, 0, 1+len(path)+len(r.repl)+len(query)), path, query, m))
	}
	head, tail := r.prefix(path)
	if head == "" && query == "" {
		return tail
	}
	return head + tail + query
}

// AppendApply appends the result of Apply to dst and returns the extended
// buffer. For every rule but regex it does not allocate once dst has room.
func (r *Rule) AppendApply(dst []byte, path, query string) []byte {
	if r != nil && r.kind == regex {
		m := r.re.FindStringSubmatchIndex(path)
		if m == nil {
			dst = append(dst, path...)
			return append(dst, query...)
		}
		return r.expand(dst, path, query, m)
	}
	head, tail := r.prefix(path)
	dst = append(dst, head...)
	dst = append(dst, tail...)
	return append(dst, query...)
}

// expand appends the result of a regex rule whose first match in path is m.
func (r *Rule) expand(dst []byte, path, query string, m []int) []byte {
	// Build the raw result behind a '/' of our own, then merge slashes in
	// place: that adds the leading '/' when the result lacks one, removes
	// repeated ones (including ours when the result has its own) and turns
	// an empty result into "/".
	start := len(dst)
	dst = append(dst, '/')
	dst = append(dst, path[:m[0]]...)
	dst = r.re.ExpandString(dst, r.repl, path, m)
	dst = append(dst, path[m[1]:]...)
	dst = mergeSlashes(dst, start)
	return append(dst, query...)
}

// prefix returns the result of a non-regex rule as two pieces to be
// concatenated, so that callers can build it without an intermediate string.
func (r *Rule) prefix(path string) (head, tail string) {
	if r == nil {
		return "", path
	}
	switch r.kind {
	case replacePath:
		return "", r.to
	case stripPrefix, replacePrefix:
		rest, ok := cutPrefix(path, r.from)
		if !ok {
			return "", path
		}
		if r.kind == stripPrefix {
			head = ""
		} else {
			head = r.to
		}
		// rest is "" or starts with '/', and head has no trailing slash,
		// so head+rest holds no "//"; only an empty result needs help.
		if head == "" && rest == "" {
			rest = "/"
		}
		return head, rest
	}
	return "", path
}

// cutPrefix reports whether path starts with prefix (which has no trailing
// slash) on a segment boundary, and returns what follows it: "" or a string
// starting with '/'.
func cutPrefix(path, prefix string) (rest string, ok bool) {
	if !strings.HasPrefix(path, prefix) {
		return "", false
	}
	rest = path[len(prefix):]
	if rest != "" && rest[0] != '/' {
		return "", false // "/apiary" does not start with the segment "/api"
	}
	return rest, true
}

// mergeSlashes replaces every run of slashes in b[start:] by a single one,
// in place.
func mergeSlashes(b []byte, start int) []byte {
	w := start
	for i := start; i < len(b); i++ {
		if b[i] == '/' && w > start && b[w-1] == '/' {
			continue
		}
		b[w] = b[i]
		w++
	}
	return b[:w]
}

// String describes the rule in the terms of the configuration, for
// debugging: for example `strip_prefix "/api"` or
// `regex "^/u/(\d+)$" -> "/users/$1"`.
func (r *Rule) String() string {
	if r == nil {
		return "none"
	}
	switch r.kind {
	case stripPrefix:
		return "strip_prefix " + strconv.Quote(r.src[0])
	case replacePrefix:
		return "replace_prefix " + strconv.Quote(r.src[0]) + " -> " + strconv.Quote(r.src[1])
	case regex:
		return "regex " + strconv.Quote(r.src[0]) + " -> " + strconv.Quote(r.src[1])
	case replacePath:
		return "replace_path " + strconv.Quote(r.src[0])
	}
	return "invalid"
}
