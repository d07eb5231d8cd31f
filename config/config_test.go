package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
		{`{"sticky":{"secret":"a","secrets":["b"]}}`, "sticky.secrets: give secret or secrets, not both"},
		{`{"sticky":{"secrets":[]}}`, "sticky.secrets: must not be empty"},
		{`{"sticky":{"secrets":["a",""]}}`, "sticky.secrets[1]: must not be empty"},
		{`{"sticky":{"secret":""}}`, "sticky.secret: must not be empty"},
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
	],"default_servers":[],"sticky":{"mode":"always","max_sessions":5,"secrets":["new","old"],"max_age":"1h"}}`
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

// TestStickySecrets checks that secret is the one-secret form of secrets.
func TestStickySecrets(t *testing.T) {
	one, err := decodeJSON(t, `{"sticky":{"secret":"k"}}`)
	if err != nil {
		t.Fatal(err)
	}
	list, err := decodeJSON(t, `{"sticky":{"secrets":["k"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one, list) || !reflect.DeepEqual(one.Sticky.Secrets, []string{"k"}) {
		t.Errorf("secret gives %q, secrets %q", one.Sticky.Secrets, list.Sticky.Secrets)
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
		{"syntax.json", "{\n \"routes\": [\n}\n", "syntax.json:3: invalid character"},
		{"syntax.yaml", "routes:\n  - a: b\n   c: d\n", "syntax.yaml:1: did not find expected '-' indicator"},
		{"deep.json", strings.Repeat(`{"a":`, 100000), "deep.json:1: nested deeper than 64 levels"},
		{"deep.yaml", strings.Repeat("[", 100000), "deep.yaml: exceeded max depth"},
		{"laughs.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "laughs.yaml:1: the document expands to too many values"},
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

// TestRepeatedKeys checks that a key given twice in one object, at any
// depth, in YAML or JSON, is an error naming its line and field path and
// the line of the first, never silently resolved either way.
func TestRepeatedKeys(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, body, want string }{
		{"top.yaml", "listen: 127.0.0.1:80\nservers: {s1: http://a:1}\nlisten: 127.0.0.1:81\n",
			"top.yaml:3: listen: repeated key (first at line 1)"},
		{"servers.yaml", "listen: 127.0.0.1:80\nservers:\n  s1: http://a:1\nservers:\n  s2: http://a:2\n",
			"servers.yaml:4: servers: repeated key (first at line 2)"},
		{"server-id.yaml", "listen: 127.0.0.1:80\nservers:\n  s1: http://a:1\n  s1: http://a:2\n",
			"server-id.yaml:4: servers.s1: repeated key (first at line 3)"},
		{"route.yaml", "routes:\n  - name: a\n    servers: [s1]\n    path: /a\n    path: /b\n",
			"route.yaml:5: routes[0].path: repeated key (first at line 4)"},
		{"nested.yaml", "routes:\n  - servers: [s1]\n    headers: {X-A: '1', X-A: '2'}\n",
			"nested.yaml:3: routes[0].headers.X-A: repeated key (first at line 3)"},
		{"sticky.yaml", "sticky:\n  mode: auto\n  mode: always\n",
			"sticky.yaml:3: sticky.mode: repeated key (first at line 2)"},
		{"number-key.yaml", "routes:\n  - servers: [s1]\n    headers: {1: a, \"1\": b}\n",
			"number-key.yaml:3: routes[0].headers.1: repeated key (first at line 3)"},
		{"top.json", "{\n \"listen\": \"127.0.0.1:80\",\n \"listen\": \"127.0.0.1:81\"\n}\n",
			"top.json:3: listen: repeated key (first at line 2)"},
		{"server-id.json", "{\"listen\": \"127.0.0.1:80\",\n \"servers\": {\"s1\": \"http://a:1\",\n  \"s1\": \"http://a:2\"}}\n",
			"server-id.json:3: servers.s1: repeated key (first at line 2)"},
		{"route.json", "{\"routes\": [{\"servers\": [\"s1\"],\n \"rewrite\": {\"strip_prefix\": \"/a\",\n \"strip_prefix\": \"/b\"}}]}\n",
			"route.json:3: routes[0].rewrite.strip_prefix: repeated key (first at line 2)"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadFile(path, false)
		if err == nil {
			t.Errorf("%s: no error, want %q", tt.name, tt.want)
			continue
		}
		want := filepath.Join(dir, tt.want)
		if lines := strings.Split(err.Error(), "\n"); !slices.Contains(lines, want) {
			t.Errorf("%s: error\n%v\nwant the line %q", tt.name, err, want)
		}
	}
}

// TestRepeatedKeyInMessage checks the node's side: a configuration body
// with a repeated key is rejected with the field named.
func TestRepeatedKeyInMessage(t *testing.T) {
	_, err := ParseJSON([]byte(`{"type":"config","routes":[{"servers":["s1"],"servers":["s2"]}]}`))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Error() != "routes[0].servers: repeated key (first at line 1)" {
		t.Errorf("error %v, want routes[0].servers: repeated key (first at line 1)", err)
	}
}

// TestLocateEscapesControls checks that a control byte from the file (here
// a newline in a value the message quotes) cannot break an error's line.
func TestLocateEscapesControls(t *testing.T) {
	v, err := ParseJSON([]byte(`{"routes": [{"servers": ["s1"], "balance": "a\nb"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeConfig(v, false)
	err = (&Source{Name: "f.json", Root: v}).Locate(err)
	want := `f.json:1: routes[0].balance: unknown policy a\x0ab (want round_robin, weighted_round_robin, hash, least_request or peak_ewma)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestRepeatedKeyInLargeObject checks repeated keys past the scan limit,
// where an index finds them.
func TestRepeatedKeyInLargeObject(t *testing.T) {
	var b strings.Builder
	b.WriteString("servers:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  s%d: http://a:%d\n", i, i+1)
	}
	b.WriteString("  s500: http://b:1\n  s3: http://b:2\n")
	v, err := ParseYAML([]byte(b.String()))
	want := Errors{
		{Path: "servers.s500", Line: 1002, Msg: "repeated key (first at line 502)"},
		{Path: "servers.s3", Line: 1003, Msg: "repeated key (first at line 5)"},
	}
	if !reflect.DeepEqual(err, want) {
		t.Errorf("error %v, want %v", err, want)
	}
	if n := len(v.Get("servers").Keys); n != 1000 {
		t.Errorf("%d servers kept, want the first 1000", n)
	}
}

// TestFieldString checks that a field's path, made only for an error,
// is the one Join and Index make: at the root, below an empty root (an
// add_route body), through lists and nested keys.
func TestFieldString(t *testing.T) {
	routes := at("routes")
	r := field{up: routes, index: 12}
	rw := field{up: &r, key: "rewrite", index: -1}
	strip := field{up: &rw, key: "strip_prefix", index: -1}
	servers := field{up: &r, key: "servers", index: -1}
	second := field{up: &servers, index: 1}
	root := at("")
	name := field{up: root, key: "name", index: -1}
	for _, c := range []struct {
		f    *field
		want string
	}{
		{routes, "routes"},
		{&r, Index("routes", 12)},
		{&strip, Join(Join(Index("routes", 12), "rewrite"), "strip_prefix")},
		{&second, Index(Join(Index("routes", 12), "servers"), 1)},
		{root, ""},
		{&name, Join("", "name")},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
