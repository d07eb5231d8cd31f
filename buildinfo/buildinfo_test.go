package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		race bool
		want string
	}{
		{"no build info", nil, false,
			"version=(devel) revision=unknown modified=false go=go1.99 race=false"},
		{"unstamped work tree", &debug.BuildInfo{Main: debug.Module{Path: "l7lb", Version: "(devel)"}}, true,
			"version=(devel) revision=unknown modified=false go=go1.99 race=true"},
		{"stamped, clean", &debug.BuildInfo{
			Main: debug.Module{Path: "l7lb", Version: "v0.0.0-20260101120000-ce3399e3166d"},
			Settings: []debug.BuildSetting{
				{Key: "-race", Value: "false"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "ce3399e3166d9f1dd3b08b396851865b1410c99a"},
				{Key: "vcs.time", Value: "2026-01-01T12:00:00Z"},
				{Key: "vcs.modified", Value: "false"},
			}}, false,
			"version=v0.0.0-20260101120000-ce3399e3166d revision=ce3399e3166d9f1dd3b08b396851865b1410c99a modified=false go=go1.99 race=false"},
		{"stamped, modified", &debug.BuildInfo{
			Main: debug.Module{Path: "l7lb", Version: "v0.0.0-20260101120000-ce3399e3166d+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "ce3399e3166d9f1dd3b08b396851865b1410c99a"},
				{Key: "vcs.modified", Value: "true"},
			}}, false,
			"version=v0.0.0-20260101120000-ce3399e3166d+dirty revision=ce3399e3166d9f1dd3b08b396851865b1410c99a modified=true go=go1.99 race=false"},
		{"empty main version (a test binary)", &debug.BuildInfo{}, false,
			"version=(devel) revision=unknown modified=false go=go1.99 race=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, "go1.99", tc.race).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestGet checks this very binary's information against what the go
// command recorded independently of the build tags: the -race setting.
func TestGet(t *testing.T) {
	i := Get()
	if i.GoVersion != runtime.Version() {
		t.Errorf("GoVersion %q, want %q", i.GoVersion, runtime.Version())
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in this test binary")
	}
	race := false
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			race = s.Value == "true"
		}
	}
	if i.Race != race {
		t.Errorf("Race %t, but the go command recorded -race=%t", i.Race, race)
	}
}
