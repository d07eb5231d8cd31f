package config

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Fleet is the `fleet:` block of an instance's file: the etcd cluster and
// prefix that hold the configuration shared by every instance of a fleet
// (docs/fleet.md). The keys in SharedKeys then come from there, never from
// the file.
type Fleet struct {
	Etcd     []string // client URLs of the etcd members
	Prefix   string   // one fleet per prefix; no trailing /
	Name     string   // this instance's name in the fleet; the host name by default
	Cache    string   // the last applied shared configuration, to start while etcd is down; "" = none
	TLS      *FleetTLS
	Username string // etcd's own authentication; "" = none
	Password string
}

// FleetTLS is the client TLS of the etcd connection (file names absolute).
type FleetTLS struct {
	CA, Cert, Key string
}

// SharedKeys are the top-level keys a fleet shares through etcd: what
// routes a request and to which server. Every other key (listeners, admin,
// drain_timeout, trusted_proxies, via, fleet) is the instance's own.
var SharedKeys = []string{"servers", "routes", "default_servers", "sticky", "health", "timeouts", "limits", "slow_start", "outliers"}

// IsShared reports whether key is one of SharedKeys.
func IsShared(key string) bool { return slices.Contains(SharedKeys, key) }

func (d *decoder) fleet(path string, v *Value) *Fleet {
	fl := &Fleet{}
	d.fields(path, v, map[string]func(string, *Value){
		"etcd": func(p string, val *Value) {
			list, ok := d.strings(p, val)
			if !ok {
				return
			}
			for i, s := range list {
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" && u.Path != "/" {
					d.fail(Index(p, i), val.List[i], "want an etcd client URL such as http://10.0.0.1:2379")
					continue
				}
				fl.Etcd = append(fl.Etcd, s)
			}
			if len(list) == 0 {
				d.fail(p, val, "must not be empty")
			}
		},
		"prefix": func(p string, val *Value) {
			if s, ok := d.nonEmpty(p, val); ok {
				if s[0] != '/' || strings.HasSuffix(s, "/") && s != "/" {
					d.fail(p, val, "want a key prefix such as /l7lb/prod: starting with /, not ending with /")
				}
				fl.Prefix = s
			}
		},
		"name": func(p string, val *Value) {
			if s, ok := d.nonEmpty(p, val); ok {
				if strings.ContainsAny(s, "/ \t") {
					d.fail(p, val, "a name has no / nor blank")
				}
				fl.Name = s
			}
		},
		"cache":    func(p string, val *Value) { fl.Cache, _ = d.nonEmpty(p, val) },
		"username": func(p string, val *Value) { fl.Username, _ = d.nonEmpty(p, val) },
		"password": func(p string, val *Value) { fl.Password, _ = d.nonEmpty(p, val) },
		"tls": func(p string, val *Value) {
			t := &FleetTLS{}
			d.fields(p, val, map[string]func(string, *Value){
				"ca":   func(p string, val *Value) { t.CA, _ = d.nonEmpty(p, val) },
				"cert": func(p string, val *Value) { t.Cert, _ = d.nonEmpty(p, val) },
				"key":  func(p string, val *Value) { t.Key, _ = d.nonEmpty(p, val) },
			})
			if (t.Cert == "") != (t.Key == "") {
				d.fail(p, val, "give cert and key together")
			}
			fl.TLS = t
		},
	})
	if v.Kind == Map {
		for _, key := range []string{"etcd", "prefix"} {
			if v.Get(key) == nil {
				d.fail(Join(path, key), v, "missing")
			}
		}
	}
	if (fl.Username == "") != (fl.Password == "") {
		d.fail(Join(path, "password"), v, "give username and password together")
	}
	if fl.Name == "" {
		fl.Name, _ = os.Hostname()
	}
	return fl
}

// resolve makes the file names of fl absolute, taken from dir.
func (fl *Fleet) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&fl.Cache)
	if fl.TLS != nil {
		abs(&fl.TLS.CA)
		abs(&fl.TLS.Cert)
		abs(&fl.TLS.Key)
	}
}

// canonical is fl as the file gives it.
func (fl *Fleet) canonical() map[string]any {
	m := map[string]any{"etcd": fl.Etcd, "prefix": fl.Prefix, "name": fl.Name}
	if fl.Cache != "" {
		m["cache"] = fl.Cache
	}
	if fl.Username != "" {
		m["username"], m["password"] = fl.Username, fl.Password
	}
	if t := fl.TLS; t != nil {
		tm := map[string]any{}
		for k, v := range map[string]string{"ca": t.CA, "cert": t.Cert, "key": t.Key} {
			if v != "" {
				tm[k] = v
			}
		}
		m["tls"] = tm
	}
	return m
}

// checkFleetFile reports the shared keys of a file with a fleet block:
// they come from etcd, and a copy in the file would silently lose.
func (d *decoder) checkFleetFile(v *Value) {
	for i, key := range v.Keys {
		if IsShared(key) {
			d.fail(key, v.Vals[i], "shared by the fleet (this file has fleet:): give it in the shared configuration, with `l7lb fleet push`")
		}
	}
}

// CheckShared checks that a fleet's shared configuration document holds
// only shared keys; its errors are located in src.
func CheckShared(v *Value) Errors {
	var d decoder
	if !d.want("", v, Map) {
		return d.errs
	}
	for i, key := range v.Keys {
		if !IsShared(key) {
			msg := "local to each instance, not shared: give it in the instance's own file"
			if !slices.Contains(topLevelKeys, key) {
				msg = "unknown field"
			}
			d.fail(key, v.Vals[i], msg)
		}
	}
	return d.errs
}

// topLevelKeys are every key a configuration file may have.
var topLevelKeys = []string{"routes", "default_servers", "sticky", "listen", "listeners", "admin", "admin_token", "drain_timeout",
	"servers", "timeouts", "limits", "health", "slow_start", "outliers", "trusted_proxies", "via", "access_log", "tracing", "metrics", "fleet"}

// Document is a configuration document and the name its errors call it by.
type Document struct {
	Name string
	Data []byte
}

// LoadFleet is LoadIn for an instance of a fleet: the file (name, data,
// relative names taken from dir) gives the local keys and the fleet block,
// shared the shared keys. The Source locates each error in the document
// its field comes from.
func LoadFleet(dir, name string, data []byte, shared Document) (*File, *Source, error) {
	local, err := Parse(data)
	if err != nil {
		return LoadIn(dir, name, data, true) // its located syntax error
	}
	sv, err := Parse(shared.Data)
	if err != nil {
		_, _, err = LoadIn(dir, shared.Name, shared.Data, true)
		return nil, nil, err
	}
	var es Errors
	var fleet *Fleet
	merged := NewMap(local.Line)
	if local.Kind == Map {
		for i, key := range local.Keys {
			switch {
			case key == "fleet":
				var d decoder
				fleet = d.fleet(key, local.Vals[i])
				es = append(es, d.errs...)
			case !IsShared(key):
				merged.Keys, merged.KeyLines, merged.Vals = append(merged.Keys, key), append(merged.KeyLines, local.KeyLines[i]), append(merged.Vals, local.Vals[i])
			}
		}
	}
	src := &Source{Name: name, Root: local, Shared: &Source{Name: shared.Name, Root: sv}}
	if fleet == nil {
		es = append(es, &FieldError{Path: "fleet", Msg: "missing: the file of an instance of a fleet has fleet:"})
	}
	for _, e := range CheckShared(sv) {
		e.File = shared.Name
		es = append(es, e)
	}
	if sv.Kind == Map {
		for i, key := range sv.Keys {
			if IsShared(key) {
				merged.Keys, merged.KeyLines, merged.Vals = append(merged.Keys, key), append(merged.KeyLines, sv.KeyLines[i]), append(merged.Vals, sv.Vals[i])
			}
		}
	}
	f, derr := DecodeFile(merged, true)
	if derr != nil {
		es = append(es, derr.(Errors)...)
	}
	if dir, err := filepath.Abs(dir); err == nil {
		f.Fleet = fleet
		f.resolvePaths(dir)
	}
	f.Fleet = fleet
	return f, src, es.Err()
}
