package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// checkFastJSON checks that parseJSONFast gives what the decoder-driven
// parser gives, value and error, and declines only documents that parser
// rejects.
func checkFastJSON(t *testing.T, data []byte) {
	t.Helper()
	slowV, slowErr := parseJSONSlow(data)
	fastV, fastErr, ok := parseJSONFast(data)
	if !ok {
		// Only what the slow parser rejects (a syntax error, a limit) may be
		// declined: repeated keys come with a value, and must be reported.
		if slowV != nil || slowErr == nil {
			t.Fatalf("%q: the fast parser declined a document the slow one accepts (%v)", data, slowErr)
		}
		return
	}
	if !reflect.DeepEqual(fastV, slowV) || !reflect.DeepEqual(fastErr, slowErr) {
		t.Fatalf("%q:\nfast %+v, %v\nslow %+v, %v", data, fastV, fastErr, slowV, slowErr)
	}
}

func TestParseJSONFast(t *testing.T) {
	docs := []string{
		`{}`, `[]`, ` {"a": 1} `, "{\n\"a\":\n[1, -2.5e+3, 0, true, false, null, \"x\"],\n\"b\": {\"c\": {}}\n}",
		`{"a": 1, "a": 2}`, `{"s": "\u00e9\n\"\\\/", "t": "caf\u00e9", "u": "\xff"}`,
		`{"a": 01}`, `{"a": 1x}`, `{"a": -}`, `{"a": 1.}`, `{"a": .5}`, `{"a": 1e}`, `{"a": tru}`,
		`{"a": "x`, `{"a" 1}`, `{"a": 1,}`, `[1,]`, `{} {}`, `{}x`, ``, `   `, "\ufeff{}",
		`{"a": "tab	in"}`, `{1: 2}`, `[` + strings.Repeat(`[`, 70) + strings.Repeat(`]`, 71),
		`{"routes": [{"name": "r0", "path": "/s0/*", "servers": ["s1", "s4"]}]}`,
	}
	for _, d := range docs {
		checkFastJSON(t, []byte(d))
	}
	// Every JSON file of the project's test data.
	files, _ := filepath.Glob("../*/testdata/*.json")
	more, _ := filepath.Glob("../testdata/*.json")
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkFastJSON(t, data)
	}
}

func FuzzParseJSONFast(f *testing.F) {
	for _, d := range []string{`{"a": [1, "x", true, null, {"b": -0.5e3}]}`, "{\n\"a\": 1,\n\"a\": \"\\u00e9\"}", `[]`, `"s"`, `{"a":01}`} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastJSON(t, data) })
}

// TestParseJSONFastRepeatedPaths: a repeated key's error names its whole
// field path, through lists and an empty key.
func TestParseJSONFastRepeatedPaths(t *testing.T) {
	data := []byte(`{"routes": [{}, {"": {"a": 1, "a": 2}}], "x": {"y": 1, "y": 2}}`)
	checkFastJSON(t, data)
	_, err, _ := parseJSONFast(data)
	if err == nil || !strings.Contains(err.Error(), "routes[1]..a: repeated key") || !strings.Contains(err.Error(), "x.y: repeated key") {
		t.Errorf("error %v, want repeated keys at routes[1]..a and x.y", err)
	}
}
