package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func decodeJSON(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	v, err := ParseJSON([]byte(doc))
	if err != nil {
		t.Fatalf("ParseJSON: %v", err)
	}
	return DecodeConfig(v, true)
}

func TestDecodeDefaults(t *testing.T) {
	c, err := decodeJSON(t, `{"type":"config","msg_id":3,"routes":[{"servers":["s1"]},{"name":"route-1","servers":["s2"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Routes: []Route{
			{Name: "route-2", Path: "/*", Servers: []string{"s1"}, Balance: RoundRobin},
			{Name: "route-1", Path: "/*", Servers: []string{"s2"}, Balance: RoundRobin},
		},
		Sticky: DefaultSticky(),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"routes":7}`, "routes: expected a list"},
		{`{"routes":[{"servers":"s1"}]}`, "routes[0].servers: expected a list of strings"},
		{`{"routes":[{"servers":[]}]}`, "routes[0].servers: must not be empty"},
		{`{"routes":[{"servers":["s1","s1"]}]}`, "routes[0].servers[1]: duplicate s1"},
		{`{"routes":[{}]}`, "routes[0].servers: missing"},
		{`{"routes":[{"servers":["s1"],"pth":"/x"}]}`, "routes[0].pth: unknown field"},
		{`{"routes":[{"servers":["s1"],"balance":"random"}]}`, "routes[0].balance: unknown policy random (want round_robin, weighted_round_robin, hash, least_request or peak_ewma)"},
		{`{"routes":[{"servers":["s1"],"weights":{"s1":2}}]}`, "routes[0].weights: only with balance weighted_round_robin, hash, least_request or peak_ewma"},
		{`{"routes":[{"servers":["s1"],"balance":"weighted_round_robin","weights":{"s1":0}}]}`, "routes[0].weights.s1: must be from 1 to 1000"},
		{`{"routes":[{"servers":["s1"],"balance":"weighted_round_robin","weights":{"s2":1}}]}`, "routes[0].weights.s2: not a server of this route"},
		{`{"routes":[{"servers":["s1"],"balance":"hash"}]}`, "routes[0].hash_on: required with balance hash"},
		{`{"routes":[{"servers":["s1"],"balance":"hash","hash_on":"ip"}]}`, "routes[0].hash_on: want cookie:NAME, header:NAME, path or host"},
		{`{"routes":[{"servers":["s1"],"hash_on":"path"}]}`, "routes[0].hash_on: only with balance hash"},
		{`{"routes":[{"servers":["s1"],"rewrite":{}}]}`, "routes[0].rewrite: give exactly one of strip_prefix, replace_prefix, regex, replace_path"},
		{`{"routes":[{"servers":["s1"],"rewrite":{"strip_prefix":"/a","replace_path":"/b"}}]}`, "routes[0].rewrite: give exactly one of strip_prefix, replace_prefix, regex, replace_path"},
		{`{"routes":[{"servers":["s1"],"rewrite":{"regex":{"pattern":"x"}}}]}`, "routes[0].rewrite.regex.replacement: missing"},
		{`{"routes":[{"servers":["s1"],"host":"a","hosts":["b"]}]}`, "routes[0].hosts: give host or hosts, not both"},
		{`{"routes":[{"servers":["s1"],"name":"default"}]}`, "routes[0].name: default is reserved for the default servers"},
		{`{"routes":[{"servers":["s1"],"name":"a"},{"servers":["s2"],"name":"a"}]}`, "routes[1].name: duplicate route name a"},
		{`{"routes":[{"servers":["s1"],"sticky":"yes"}]}`, "routes[0].sticky: expected a boolean"},
		{`{"routes":[{"servers":["s1"],"headers":{"X-A":1}}]}`, "routes[0].headers.X-A: expected a string"},
		{`{"default_servers":["s1",2]}`, "default_servers[1]: expected a string"},
		{`{"sticky":{"mode":"sometimes"}}`, "sticky.mode: unknown mode sometimes (want auto, always, off or insert)"},
		{`{"sticky":{"max_sessions":0}}`, "sticky.max_sessions: must be from 1 to 2147483647"},
		{`{"sticky":{"max_sessions":1.5}}`, "sticky.max_sessions: expected an integer"},
		{`{"sticky":{"cookie":"a b"}}`, "sticky.cookie: not a valid cookie name"},
		{`{"sticky":{"cookie":"backend"}}`, "sticky.server_cookie: must differ from cookie"},
		{`{"sticky":{"ttl":3}}`, "sticky.ttl: unknown field"},
	}
	for _, tt := range tests {
		_, err := decodeJSON(t, tt.doc)
		es, ok := err.(Errors)
		if !ok || len(es) == 0 {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
			continue
		}
		if got := es[0].Error(); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.doc, got, tt.want)
		}
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	doc := `{"routes":[
	  {"name":"shop","hosts":["shop.example.com","*.shop.example.com"],"path":"/api/*","methods":["GET","POST"],
	   "headers":{"X-Env":"prod"},"servers":["s1","s2"],"balance":"hash","hash_on":"cookie:uid","weights":{"s1":3},
	   "rewrite":{"regex":{"pattern":"^/api/(.*)$","replacement":"/$1"}},"sticky":false},
	  {"host":"a.example.com","servers":["s3"],"rewrite":{"replace_prefix":{"from":"/a","to":"/b"}}}
	],"default_servers":[],"sticky":{"mode":"always","max_sessions":5}}`
	c1, err := decodeJSON(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := json.Marshal(c1.Canonical(nil))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := decodeJSON(t, string(canon))
	if err != nil {
		t.Fatalf("canonical form rejected: %v\n%s", err, canon)
	}
	if !reflect.DeepEqual(c1, c2) {
		t.Errorf("round trip changed the configuration:\n%+v\n%+v", c1, c2)
	}
	if got := c1.Canonical([]string{"s1"})["default_servers"]; !reflect.DeepEqual(got, []string{}) {
		t.Errorf("explicit empty default servers written as %v", got)
	}
	var none Config
	if got := none.Canonical([]string{"s1", "s2"})["default_servers"]; !reflect.DeepEqual(got, []string{"s1", "s2"}) {
		t.Errorf("nil default servers written as %v, want all servers", got)
	}
}

func TestYAMLAndJSONAgree(t *testing.T) {
	yml := `
routes:
  - name: api
    path: /api/*
    servers: [s1, s2]
    rewrite:
      strip_prefix: /api
sticky:
  mode: "off"
`
	js := `{"routes":[{"name":"api","path":"/api/*","servers":["s1","s2"],"rewrite":{"strip_prefix":"/api"}}],"sticky":{"mode":"off"}}`
	vy, err := ParseYAML([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	cy, err := DecodeConfig(vy, false)
	if err != nil {
		t.Fatal(err)
	}
	cj, err := decodeJSON(t, js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cy, cj) {
		t.Errorf("YAML %+v\nJSON %+v", cy, cj)
	}
}

func TestReadFileNamesFieldAndLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"bad.yaml", "routes:\n  - path: /x\n    servers: [s1]\n    balance: random\n",
			"bad.yaml:4: routes[0].balance: unknown policy random"},
		{"bad.json", "{\n  \"routes\": [\n    {\"servers\": [\"s1\"],\n     \"sticky\": 1}\n  ]\n}\n",
			"bad.json:4: routes[0].sticky: expected a boolean"},
		{"top.yaml", "listen: 1\n", "top.yaml:1: listen: expected a string"},
		{"key.yaml", "listn: x\n", "key.yaml:1: listn: unknown field"},
		{"syntax.json", "{\n \"routes\": [\n}\n", "syntax.json: line 3"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadFile(path, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestLocateFindsLineOfLaterErrors(t *testing.T) {
	v, err := ParseYAML([]byte("routes:\n  - path: /a\n    servers: [s1]\n  - path: /b\n    servers:\n      - s1\n      - s9\n"))
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{Name: "f.yaml", Root: v}
	err = src.Locate(Errors{{Path: "routes[1].servers[1]", Msg: "unknown server s9"}})
	if want := "f.yaml:7: routes[1].servers[1]: unknown server s9"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}
