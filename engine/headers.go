package engine

import (
	"strings"

	"l7lb/httpmsg"
)

// FieldHeaders is a list of header fields read as a request's [Headers],
// for the explain commands (the CLI's and the admin listener's), which
// have a request's fields but no request parsed from the wire. Names
// compare case-insensitively; cookies come from the Cookie fields.
type FieldHeaders []httpmsg.Field

// HasHeader reports whether any field name has exactly value.
func (h FieldHeaders) HasHeader(name, value string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) && f.Value == value {
			return true
		}
	}
	return false
}

// Header returns the first value of the field name.
func (h FieldHeaders) Header(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Cookie returns the value of the cookie name from the Cookie fields.
func (h FieldHeaders) Cookie(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, "Cookie") {
			if v, ok := httpmsg.CookieValue(f.Value, name); ok {
				return v, true
			}
		}
	}
	return "", false
}

// HasCookies reports whether there is a Cookie field.
func (h FieldHeaders) HasCookies() bool {
	_, ok := h.Header("Cookie")
	return ok
}
