package proxy

import (
	"testing"

	"l7lb/httpmsg"
)

// FuzzGRPCTimeout: grpcTimeout (upstream_h2.go) reads any grpc-timeout
// value without panicking, and accepts only a non-negative duration of at
// most 8 digits and a unit.
func FuzzGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "250m", "99999999H", "", "1x", "-1S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := &request{}
		r.head.Fields = append(r.head.Fields[:0], httpmsgField("grpc-timeout", v))
		r.view.Fields = r.head.Fields
		d, ok := grpcTimeout(r)
		// The header view reads values without their surrounding
		// whitespace, as RFC 9110 5.5 has them.
		if v = httpmsg.TrimOWS(v); ok && (d < 0 || len(v) > 9) || !ok && d != 0 {
			t.Fatalf("%q: %v %v", v, d, ok)
		}
	})
}
