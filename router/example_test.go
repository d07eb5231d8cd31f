package router_test

import (
	"fmt"

	"l7lb/router"
)

func ExampleTable_Match() {
	tab, err := router.Compile([]router.Spec{
		{Path: "/api/*"},
		{Hosts: []string{"*.example.com"}, Path: "/"},
		{Path: "/api/v*/users", Methods: []string{"GET"}},
	})
	if err != nil {
		panic(err)
	}
	for _, r := range []router.Request{
		{Path: "/api/v2/users", Method: "GET"},  // longer literal prefix: "/api/v"
		{Path: "/api/v2/users", Method: "POST"}, // methods fail: "/api/*"
		{Host: "shop.example.com", Path: "/api/x"},
		{Path: "/apiary"},
	} {
		fmt.Println(tab.Match(&r))
	}
	// Output:
	// 2
	// 0
	// 1
	// -1
}

func ExampleCompile_error() {
	_, err := router.Compile([]router.Spec{{Path: "/ok"}, {Hosts: []string{"a.*.com"}}})
	se := err.(*router.SpecError)
	fmt.Printf("%d %s: %s\n", se.Index, se.Field, se.Msg)
	// Output:
	// 1 hosts[0]: wildcard only as the first label (*.example.com)
}
