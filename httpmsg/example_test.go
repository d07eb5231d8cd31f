package httpmsg_test

import (
	"errors"
	"fmt"

	"l7lb/httpmsg"
)

func ExampleParseHead() {
	raw := "GET http://Shop.Example.COM.:8080/cart?x=1 HTTP/1.1\r\n" +
		"Host: ignored.example\r\n" +
		"Cookie: theme=dark; session_id=lb-7\r\n" +
		"\r\n"
	var h httpmsg.Head // reuse it across requests to parse without allocating
	if err := httpmsg.ParseHead(raw, &h); err != nil {
		fmt.Println("raw:", err)
		return
	}
	view := httpmsg.Headers{Fields: h.Fields}
	host, _ := view.Header("host")
	if authority, path, ok := httpmsg.SplitAbsolute(h.Target); ok {
		host = authority // an absolute-form target names the host first
		fmt.Println(path)
	}
	fmt.Println(httpmsg.NormalizeHost(host))
	fmt.Println(view.Cookie("session_id"))
	// Output:
	// /cart?x=1
	// shop.example.com
	// lb-7 true
}

func ExampleHeadError() {
	var h httpmsg.Head
	err := httpmsg.ParseHead("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h)
	fmt.Println("raw:", err)
	fmt.Println(errors.Is(err, httpmsg.ErrSpaceBeforeColon))
	// Output:
	// raw: whitespace before colon at line 2
	// true
}
