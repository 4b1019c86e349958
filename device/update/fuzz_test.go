package update

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/format/safetext"
)

// FuzzParseContentRange: the service's Content-Range header is untrusted; a parsed one must
// print back to what was parsed.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */200", "bytes -1-5/6", "items 1-2/3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		again, total2, ok2 := parseContentRange("bytes " + strconv.FormatInt(start, 10) + "-x/" + strconv.FormatInt(total, 10))
		if !ok2 || again != start || total2 != total {
			t.Errorf("%q parsed as %d/%d, which does not parse back", s, start, total)
		}
	})
}

// FuzzCompareVersions: versions come from signed metadata, but the order must be consistent
// whatever they are: antisymmetric and reflexive.
func FuzzCompareVersions(f *testing.F) {
	f.Add("1.0.0", "1.0.1")
	f.Add("2.0.0-rc.1", "2.0.0")
	f.Add("10.0", "9.9")
	f.Fuzz(func(t *testing.T, a, b string) {
		if compareVersions(a, a) != 0 {
			t.Errorf("%q is not equal to itself", a)
		}
		if ab, ba := compareVersions(a, b), compareVersions(b, a); sign(ab) != -sign(ba) {
			t.Errorf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
		}
	})
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"1.0.0", "1.0.1", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "10.0.0", -1},
		{"1.0", "1.0.0", -1},
	} {
		if got := sign(compareVersions(tc.a, tc.b)); got != tc.want {
			t.Errorf("compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCleanBoundsMessages(t *testing.T) {
	t.Parallel()
	for _, s := range []string{strings.Repeat("é", 2000), strings.Repeat("a", 5000), "line\nbreak"} {
		got := safetext.Line(s, maxMessage)
		if len(got) > maxMessage+len("…") || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r") {
			t.Errorf("safetext.Line(%.20q…) = %d bytes, valid UTF-8 %v", s, len(got), utf8.ValidString(got))
		}
	}
}
