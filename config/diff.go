package config

import (
	"encoding/json"
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Changes are what a configuration changes of another, by name: routes
// (by name), servers (by id) and listeners (by address) added, removed or
// changed, and the other top-level keys whose value changed.
type Changes struct {
	Routes    NameChanges `json:"routes"`
	Servers   NameChanges `json:"servers"`
	Listeners NameChanges `json:"listeners"`
	Settings  []string    `json:"settings"`
}

// NameChanges lists the names added, removed and changed, each sorted.
type NameChanges struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// Empty reports whether nothing changed.
func (c *Changes) Empty() bool {
	return len(c.Settings) == 0 && c.Routes.empty() && c.Servers.empty() && c.Listeners.empty()
}

func (n NameChanges) empty() bool { return len(n.Added)+len(n.Removed)+len(n.Changed) == 0 }

// Compare returns what next changes of prev.
func Compare(prev, next *File) Changes {
	a, b := prev.Canonical(), next.Canonical()
	c := Changes{
		Routes:    compareNamed(routesByName(a), routesByName(b)),
		Servers:   compareNamed(asMap(a["servers"]), asMap(b["servers"])),
		Listeners: compareNamed(listenersByAddress(prev), listenersByAddress(next)),
		Settings:  []string{},
	}
	for _, key := range sortedUnion(a, b) {
		switch key {
		case "routes", "servers", "listen", "listeners":
			continue
		}
		if !reflect.DeepEqual(a[key], b[key]) {
			c.Settings = append(c.Settings, key)
		}
	}
	return c
}

func routesByName(m map[string]any) map[string]any {
	out := map[string]any{}
	for _, r := range m["routes"].([]any) {
		out[r.(map[string]any)["name"].(string)] = r
	}
	return out
}

func listenersByAddress(f *File) map[string]any {
	out := map[string]any{}
	for i := range f.Listeners {
		out[f.Listeners[i].Address] = f.Listeners[i].canonical()
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func compareNamed(a, b map[string]any) NameChanges {
	n := NameChanges{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for _, k := range sortedUnion(a, b) {
		x, inA := a[k]
		y, inB := b[k]
		switch {
		case !inA:
			n.Added = append(n.Added, k)
		case !inB:
			n.Removed = append(n.Removed, k)
		case !reflect.DeepEqual(x, y):
			n.Changed = append(n.Changed, k)
		}
	}
	return n
}

func sortedUnion(a, b map[string]any) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// YAML returns f's canonical form as YAML (keys sorted), with its secrets
// redacted when redact is set.
func (f *File) YAML(redact bool) []byte {
	m := f.Canonical()
	if redact {
		Redact(m)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		panic("config: canonical form does not encode: " + err.Error())
	}
	return b
}

// JSON is YAML's JSON twin, indented.
func (f *File) JSON(redact bool) []byte {
	m := f.Canonical()
	if redact {
		Redact(m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic("config: canonical form does not encode: " + err.Error())
	}
	return append(b, '\n')
}
