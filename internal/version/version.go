// Package version says which build of Rampart is running, for `--version`, `show-version` and
// support data: the module's version (or "devel" for a build from a checkout), the source
// revision when the build recorded it, and the Go version.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// String is one line naming this build, such as
// "v1.2.0 (revision 0123abcd, go1.26.8 linux/amd64)".
func String() string {
	v, rev := "devel", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += "+changes"
		}
	}
	if rev != "" {
		return fmt.Sprintf("%s (revision %s, %s %s/%s)", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return fmt.Sprintf("%s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
