package api

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Maintenance windows. A device group may name a weekly window, in UTC, outside which its
// devices do not install application updates unless the deployment is urgent:
//
//	Sat 02:00-04:00 UTC
//	Mon,Wed,Fri 22:30-01:00 UTC    (ends on the next day)
//	Daily 03:00-03:30 UTC
//
// Days are Mon to Sun, comma-separated, or Daily; the window opens on each day named. Times are
// UTC only: a device need not carry a time-zone database.

// MaxWindowText bounds a maintenance window's text.
const MaxWindowText = 64

// Window is a parsed maintenance window.
type Window struct {
	days         [7]bool // by time.Weekday
	start, end   int     // minutes after midnight UTC
	text         string
	crossesNight bool
}

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// ParseWindow parses a maintenance window ("" is none: ok false).
func ParseWindow(s string) (w Window, ok bool, err error) {
	if s == "" {
		return w, false, nil
	}
	if len(s) > MaxWindowText {
		return w, false, fmt.Errorf("maintenance window: at most %d bytes", MaxWindowText)
	}
	f := strings.Fields(s)
	if len(f) != 3 || f[2] != "UTC" {
		return w, false, errors.New("maintenance window: want DAYS HH:MM-HH:MM UTC, e.g. 'Sat 02:00-04:00 UTC' or 'Daily 03:00-03:30 UTC'")
	}
	if f[0] == "Daily" {
		w.days = [7]bool{true, true, true, true, true, true, true}
	} else {
		for _, d := range strings.Split(f[0], ",") {
			i := indexOf(dayNames, d)
			if i < 0 || w.days[i] {
				return w, false, fmt.Errorf("maintenance window: day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun, each once, or Daily", clipField(d))
			}
			w.days[i] = true
		}
	}
	from, to, found := strings.Cut(f[1], "-")
	if !found {
		return w, false, errors.New("maintenance window: want the times as HH:MM-HH:MM")
	}
	if w.start, err = minutes(from); err == nil {
		w.end, err = minutes(to)
	}
	if err != nil {
		return w, false, err
	}
	if w.start == w.end {
		return w, false, errors.New("maintenance window: it must not start and end at the same time")
	}
	w.crossesNight, w.text = w.end < w.start, s
	return w, true, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// minutes parses HH:MM into minutes after midnight.
func minutes(s string) (int, error) {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	if len(s) != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4]) {
		return 0, fmt.Errorf("maintenance window: time %q: want HH:MM", clipField(s))
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("maintenance window: time %q: want HH:MM from 00:00 to 23:59", clipField(s))
	}
	return h*60 + m, nil
}

// String is the window as it was given.
func (w Window) String() string { return w.text }

// Contains reports whether t falls in the window.
func (w Window) Contains(t time.Time) bool {
	t = t.UTC()
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if !w.crossesNight {
		return w.days[day] && m >= w.start && m < w.end
	}
	// Opened today and not yet midnight, or opened yesterday and not yet over.
	return w.days[day] && m >= w.start || w.days[(day+6)%7] && m < w.end
}

// Next returns when the window next opens at or after t (t itself if it is open then).
func (w Window) Next(t time.Time) time.Time {
	t = t.UTC()
	if w.Contains(t) {
		return t
	}
	midnight := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for d := 0; d <= 7; d++ {
		day := midnight.AddDate(0, 0, d)
		open := day.Add(time.Duration(w.start) * time.Minute)
		if w.days[day.Weekday()] && !open.Before(t) {
			return open
		}
	}
	return time.Time{} // no day named: ParseWindow refuses that
}
