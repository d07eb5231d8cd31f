// Package buildinfo says which build of l7lb is running: the module version
// and VCS revision that the go command stamped into the binary, the Go
// version, whether the race detector is on, and which runtime patches
// (tools/runtimepatch, docs/runtime.md) the build carries. The version
// command, the admin listener and serve's first log line all print it from
// here.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// runtimePatches names the runtime patches built in, comma-separated; the
// Makefile sets it (-ldflags -X) with the overlay that applies them. Empty
// for a stock runtime.
var runtimePatches string

// Info describes one build.
type Info struct {
	Version   string // the main module's version: "(devel)" unless stamped
	Revision  string // the VCS revision, "" when the build was not stamped
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
	Race      bool   // built with -race
	Runtime   string // the runtime patches built in, comma-separated, or "stock"
}

// Get returns this binary's build information.
var Get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, runtime.Version(), raceEnabled, runtimePatches)
})

// fromBuildInfo reads what go build recorded; bi may be nil (a binary
// built without module support).
func fromBuildInfo(bi *debug.BuildInfo, goVersion string, race bool, patches string) Info {
	i := Info{Version: "(devel)", GoVersion: goVersion, Race: race, Runtime: patches}
	if i.Runtime == "" {
		i.Runtime = "stock"
	}
	if bi == nil {
		return i
	}
	if bi.Main.Version != "" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// RevisionOrUnknown returns the revision, or "unknown" when the build was
// not stamped (built outside a git checkout, in a git worktree, whose .git
// the go command does not recognise, or with -buildvcs=false).
func (i Info) RevisionOrUnknown() string {
	if i.Revision == "" {
		return "unknown"
	}
	return i.Revision
}

// String is the one-line form every face prints, as key=value pairs:
//
//	version=(devel) revision=ce3399e3166d9f1dd3b08b396851865b1410c99a modified=false go=go1.26.8 race=false runtime=netpoll-fifo,sysmon-pace
func (i Info) String() string {
	return fmt.Sprintf("version=%s revision=%s modified=%t go=%s race=%t runtime=%s",
		i.Version, i.RevisionOrUnknown(), i.Modified, i.GoVersion, i.Race, i.Runtime)
}
