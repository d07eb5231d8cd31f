package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bi      *debug.BuildInfo
		race    bool
		patches string
		want    string
	}{
		{"no build info", nil, false, "",
			"version=(devel) revision=unknown modified=false go=go1.99 race=false runtime=stock"},
		{"unstamped work tree", &debug.BuildInfo{Main: debug.Module{Path: "l7lb", Version: "(devel)"}}, true, "netpoll-fifo,sysmon-pace",
			"version=(devel) revision=unknown modified=false go=go1.99 race=true runtime=netpoll-fifo,sysmon-pace"},
		{"stamped, clean", &debug.BuildInfo{
			Main: debug.Module{Path: "l7lb", Version: "v0.0.0-20260101120000-ce3399e3166d"},
			Settings: []debug.BuildSetting{
				{Key: "-race", Value: "false"},
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "ce3399e3166d9f1dd3b08b396851865b1410c99a"},
				{Key: "vcs.time", Value: "2026-01-01T12:00:00Z"},
				{Key: "vcs.modified", Value: "false"},
			}}, false, "",
			"version=v0.0.0-20260101120000-ce3399e3166d revision=ce3399e3166d9f1dd3b08b396851865b1410c99a modified=false go=go1.99 race=false runtime=stock"},
		{"stamped, modified", &debug.BuildInfo{
			Main: debug.Module{Path: "l7lb", Version: "v0.0.0-20260101120000-ce3399e3166d+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "ce3399e3166d9f1dd3b08b396851865b1410c99a"},
				{Key: "vcs.modified", Value: "true"},
			}}, false, "sysmon-pace",
			"version=v0.0.0-20260101120000-ce3399e3166d+dirty revision=ce3399e3166d9f1dd3b08b396851865b1410c99a modified=true go=go1.99 race=false runtime=sysmon-pace"},
		{"empty main version (a test binary)", &debug.BuildInfo{}, false, "",
			"version=(devel) revision=unknown modified=false go=go1.99 race=false runtime=stock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.bi, "go1.99", tc.race, tc.patches).String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestGet checks this very binary's information against what the go
// command recorded independently of the build tags and of -X: the -race
// setting, and the runtime patches named in the recorded -ldflags.
func TestGet(t *testing.T) {
	i := Get()
	if i.GoVersion != runtime.Version() {
		t.Errorf("GoVersion %q, want %q", i.GoVersion, runtime.Version())
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in this test binary")
	}
	race, patches := false, "stock"
	for _, s := range bi.Settings {
		switch s.Key {
		case "-race":
			race = s.Value == "true"
		case "-ldflags":
			if _, v, ok := strings.Cut(s.Value, "l7lb/buildinfo.runtimePatches="); ok {
				patches, _, _ = strings.Cut(v, " ")
			}
		}
	}
	if i.Race != race {
		t.Errorf("Race %t, but the go command recorded -race=%t", i.Race, race)
	}
	if i.Runtime != patches {
		t.Errorf("Runtime %q, but the go command recorded runtime patches %q", i.Runtime, patches)
	}
}
