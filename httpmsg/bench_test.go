package httpmsg

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// typicalHead is a browser's request with 8 header fields.
const typicalHead = "GET /api/v1/users/42?expand=orders HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Cookie: theme=dark; session_id=lb-42; backend=s2\r\n" +
	"Connection: keep-alive\r\n" +
	"X-Request-Id: 7f3c9a2e-5b1d-4c8e-9f6a-2d4b8e1c3a5f\r\n" +
	"\r\n"

func BenchmarkParseHead(b *testing.B) {
	var h Head
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseHead(typicalHead, &h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNetHTTPReadRequest parses the same head with net/http, for scale.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	r := strings.NewReader(typicalHead)
	br := bufio.NewReader(r)
	b.SetBytes(int64(len(typicalHead)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(typicalHead)
		br.Reset(r)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeader(b *testing.B) {
	var h Head
	if err := ParseHead(typicalHead, &h); err != nil {
		b.Fatal(err)
	}
	view := Headers{Fields: h.Fields}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := view.Header("cookie"); !ok {
			b.Fatal("no cookie")
		}
	}
}

func BenchmarkCookieValue(b *testing.B) {
	const header = "theme=dark; _ga=GA1.2.1234567890.1234567890; session_id=lb-42; backend=s2"
	b.ReportAllocs()
	for b.Loop() {
		if v, ok := CookieValue(header, "backend"); !ok || v != "s2" {
			b.Fatal(v, ok)
		}
	}
}

func BenchmarkNormalizeHost(b *testing.B) {
	for _, h := range []string{"shop.example.com", "Shop.Example.COM.:8080"} {
		b.Run(h, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NormalizeHost(h)
			}
		})
	}
}
