package lbnode

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"l7lb/engine"
	"l7lb/maelstrom"
)

// benchConfig routes by host and path, with rewrites and sticky sessions.
const benchConfig = `{"src":"c1","dest":"lb","body":{"type":"config","msg_id":2,"routes":[` +
	`{"name":"shop","host":"shop.example.com","servers":["s1","s2","s3"],"balance":"weighted_round_robin","weights":{"s1":5,"s2":2,"s3":1}},` +
	`{"name":"tenants","host":"*.example.com","servers":["s4","s5","s6"],"balance":"hash","hash_on":"header:X-User"},` +
	`{"name":"api","path":"/api/*","servers":["s1","s2"]},` +
	`{"name":"static","path":"/static/","servers":["s3"]},` +
	`{"name":"app","path":"/app/*","servers":["s1","s2","s3","s4","s5","s6"]},` +
	`{"name":"legacy","path":"/old/*","servers":["s2","s3"],"rewrite":{"strip_prefix":"/old"}}` +
	`],"sticky":{"mode":"auto"}}}` + "\n"

// benchStream returns n mixed http_request messages after init and config.
func benchStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"src":"c1","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb","s1","s2","s3","s4","s5","s6"]}}` + "\n")
	b.WriteString(benchConfig)
	for i := range n {
		id := i + 3
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/api/users/%d"}}`+"\n", id, i%977)
		case 1:
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/home","headers":{"Host":"t%d.example.com","X-User":"user%d"}}}`+"\n", id, i%50, i%1000)
		case 2:
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/app/page","cookies":{"session_id":"u%d"}}}`+"\n", id, i%100000)
		case 3:
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"path":"/old/items/%d?a=1&b=2"}}`+"\n", id, i%1000)
		default:
			fmt.Fprintf(&b, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"method":"POST","path":"/static/js/app-%d.js"}}`+"\n", id, i%1000)
		}
	}
	return b.Bytes()
}

// BenchmarkNode measures whole messages through the node: reading,
// parsing, deciding and writing the reply.
func BenchmarkNode(b *testing.B) {
	const perRun = 100_000
	stream := benchStream(perRun)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		n := maelstrom.NewNode(bytes.NewReader(stream), io.Discard, io.Discard)
		Register(n, engine.New(nil))
		b.StartTimer()
		if err := n.Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRun), "ns/msg")
}
