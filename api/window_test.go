package api_test

import (
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
)

func TestWindow(t *testing.T) {
	// 2026-12-05 is a Saturday.
	at := func(s string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		window, now string
		open        bool
		next        string
	}{
		{"Sat 02:00-04:00 UTC", "2026-12-05 03:00", true, "2026-12-05 03:00"},
		{"Sat 02:00-04:00 UTC", "2026-12-05 04:00", false, "2026-12-12 02:00"},
		{"Sat 02:00-04:00 UTC", "2026-12-05 01:59", false, "2026-12-05 02:00"},
		{"Mon,Wed 22:30-01:00 UTC", "2026-12-08 00:30", true, "2026-12-08 00:30"}, // Tuesday, from Monday night
		{"Mon,Wed 22:30-01:00 UTC", "2026-12-08 01:00", false, "2026-12-09 22:30"},
		{"Daily 03:00-03:30 UTC", "2026-12-05 12:00", false, "2026-12-06 03:00"},
	} {
		w, ok, err := api.ParseWindow(c.window)
		if err != nil || !ok {
			t.Fatalf("%q: %v", c.window, err)
		}
		if got := w.Contains(at(c.now)); got != c.open {
			t.Errorf("%q at %s: open %t, want %t", c.window, c.now, got, c.open)
		}
		if got := w.Next(at(c.now)); !got.Equal(at(c.next)) {
			t.Errorf("%q after %s: next opens %s, want %s", c.window, c.now, got, c.next)
		}
	}
	for _, bad := range []string{"Sat 02:00-04:00", "Sat 02:00-04:00 CET", "Sat 2:00-04:00 UTC", "Sat,Sat 02:00-04:00 UTC",
		"Fri 24:00-01:00 UTC", "Fri 01:00-01:00 UTC", "Weekly 01:00-02:00 UTC", "Sat 02:00 UTC"} {
		if _, _, err := api.ParseWindow(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseWindow: a window that parses reads back as given, and opens within a week.
func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"Sat 02:00-04:00 UTC", "Mon,Wed,Fri 22:30-01:00 UTC", "Daily 03:00-03:30 UTC", "", "Sat 2:00-4:00 UTC"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		w, ok, err := api.ParseWindow(s)
		if err != nil || !ok {
			return
		}
		if w.String() != s {
			t.Errorf("%q reads back as %q", s, w.String())
		}
		next := w.Next(now)
		if next.Before(now) || next.Sub(now) > 7*24*time.Hour || !w.Contains(next) {
			t.Errorf("%q: next opening after %s is %s", s, now, next)
		}
	})
}
