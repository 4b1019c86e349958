package version

import (
	"runtime"
	"strings"
	"testing"
)

// TestStringNamesTheBuild: the line names a version and the Go version it was built with.
func TestStringNamesTheBuild(t *testing.T) {
	s := String()
	if !strings.Contains(s, runtime.Version()) || strings.HasPrefix(s, " ") || strings.Contains(s, "\n") {
		t.Errorf("version %q", s)
	}
}
