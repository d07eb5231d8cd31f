package jsonx

import (
	"testing"
)

var typical = []byte(`{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":17,"method":"GET","path":"/api/users?id=7&x=y","headers":{"Host":"shop.example.com","Cookie":"session_id=abc"}}}`)

// BenchmarkObjectEach walks a typical message the way a node does: the
// envelope, then the body, reading every string member with StringView.
func BenchmarkObjectEach(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		err := ObjectEach(typical, func(k, v []byte) error {
			switch string(k) {
			case "src", "dest":
				s, err := StringView(v)
				n += len(s)
				return err
			case "body":
				return ObjectEach(v, func(k, v []byte) error {
					if KindOf(v) == String {
						s, err := StringView(v)
						n += len(s)
						return err
					}
					return nil
				})
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("nothing read")
	}
}

func BenchmarkValueEnd(b *testing.B) {
	b.SetBytes(int64(len(typical)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValueEnd(typical); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := "/api/users?id=7&x=y \"quoted\" é"
	buf := make([]byte, 0, 128)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendString(buf[:0], s)
	}
}

func BenchmarkAppendValue(b *testing.B) {
	v := map[string]any{"status": 200, "path": "/api/users", "routed_to": "s1", "stats": map[string]uint64{"s1": 10, "s2": 12}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendValue(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}
