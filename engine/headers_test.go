package engine

import (
	"testing"
)

func TestFieldHeaders(t *testing.T) {
	h := FieldHeaders{{Name: "X-Env", Value: "prod"}, {Name: "x-env", Value: "dev"}, {Name: "Cookie", Value: "a=1; b=2"}, {Name: "cookie", Value: "c=3"}}
	if !h.HasHeader("x-ENV", "dev") || h.HasHeader("X-Env", "test") {
		t.Error("HasHeader")
	}
	if v, ok := h.Header("X-ENV"); !ok || v != "prod" {
		t.Errorf("Header: %q %v", v, ok)
	}
	for name, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		if v, ok := h.Cookie(name); !ok || v != want {
			t.Errorf("Cookie(%s): %q %v", name, v, ok)
		}
	}
	if _, ok := h.Cookie("d"); ok || !h.HasCookies() {
		t.Error("Cookie(d) or HasCookies")
	}
	if (FieldHeaders{{Name: "Host", Value: "x"}}).HasCookies() {
		t.Error("HasCookies without a Cookie field")
	}
}
