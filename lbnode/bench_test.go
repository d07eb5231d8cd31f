package lbnode

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"l7lb/engine"
	"l7lb/maelstrom"
	"l7lb/tools/routeset"
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

// BenchmarkNodeRoutes measures http_requests through the node over issue
// 13's generated configurations (tools/routeset), with and without
// reading requests ahead to prefetch what their decisions read.
func BenchmarkNodeRoutes(b *testing.B) {
	const perRun = 100_000
	for _, routes := range []int{4, 100_000} {
		rs := routeset.Generate(routes, 0)
		var setup bytes.Buffer
		setup.WriteString(`{"src":"c1","dest":"lb","body":{"type":"init","msg_id":1,"node_id":"lb","node_ids":["lb"`)
		for i := range routeset.NumServers {
			setup.WriteString(`,"` + routeset.Server(i) + `"`)
		}
		setup.WriteString("]}}\n")
		cfg := rs.AppendJSON(nil, false)
		setup.WriteString(`{"src":"c1","dest":"lb","body":{"type":"config","msg_id":2,`)
		setup.Write(bytes.ReplaceAll(bytes.TrimPrefix(bytes.TrimSpace(cfg), []byte("{")), []byte("\n"), nil))
		setup.WriteString("}\n")
		var stream bytes.Buffer
		for j, q := range rs.Requests(perRun) {
			fmt.Fprintf(&stream, `{"src":"c1","dest":"lb","body":{"type":"http_request","msg_id":%d,"method":"GET","path":%q`, j+3, q.Target)
			if q.Host != "" {
				stream.WriteString(`,"headers":{"Host":"` + q.Host + `"}`)
			}
			stream.WriteString("}}\n")
		}
		for _, ahead := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/ahead=%v", routes, ahead), func(b *testing.B) {
				e := engine.New(nil)
				n := maelstrom.NewNode(bytes.NewReader(setup.Bytes()), io.Discard, io.Discard)
				register(n, e, ahead)
				if err := n.Run(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					b.StopTimer()
					n := maelstrom.NewNode(bytes.NewReader(stream.Bytes()), io.Discard, io.Discard)
					register(n, e, ahead)
					b.StartTimer()
					if err := n.Run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRun), "ns/msg")
			})
		}
	}
}
