package netlimit

import (
	"fmt"
	"testing"
	"time"
)

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:443":              "192.0.2.1",
		"[::ffff:192.0.2.1]:443":     "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:1":        "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManySourcesStayBounded: an attacker with more addresses than the limiter remembers does
// not grow its memory past the bound, and shares one bucket beyond it.
func TestManySourcesStayBounded(t *testing.T) {
	l := NewLimiter(1, 1)
	l.max = 100
	now := time.Now()
	for i := range 1000 {
		l.Allow(fmt.Sprintf("198.51.100.%d", i), now)
	}
	if n := len(l.buckets); n > l.max+1 {
		t.Errorf("%d buckets, want at most %d", n, l.max+1)
	}
}
