package agent

import (
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
)

// TestMalformedNoticeIsRefused: a line of the notification stream is one JSON object with a
// reason and a delay within api.MaxNoticeDelay; anything else ends the stream (the device opens
// it again, and checks in on its interval meanwhile). Fields it does not know are ignored.
func TestMalformedNoticeIsRefused(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{`{"reason":"deployment","delay_ms":1200}`, true},
		{`{"reason":"keep-alive"}`, true},
		{`{"reason":"check-now","delay_ms":0,"wave":2}`, true},
		{`{"reason":"deployment","delay_ms":-1}`, false},
		{`{"reason":"deployment","delay_ms":` + strings.Repeat("9", 30) + `}`, false},
		{`{"reason":"deployment","delay_ms":300001}`, false},
		{`{"reason":"deployment","delay_ms":9223372036854}`, false}, // wraps to a small delay in ns
		{`{"delay_ms":5}`, false},
		{`{"reason":"` + strings.Repeat("x", 33) + `"}`, false},
		{`{"reason":"deployment"} {"reason":"deployment"}`, false},
		{`["deployment"]`, false},
		{``, false},
	} {
		n, err := parseNotice([]byte(tc.line))
		if (err == nil) != tc.ok {
			t.Errorf("%.60s: %+v, %v; want ok=%v", tc.line, n, err, tc.ok)
		}
		if err == nil && n.DelayMS > api.MaxNoticeDelay.Milliseconds() {
			t.Errorf("%.60s: delay %d ms accepted", tc.line, n.DelayMS)
		}
	}
}

func FuzzParseNotice(f *testing.F) {
	f.Add([]byte(`{"reason":"deployment","delay_ms":1200}`))
	f.Add([]byte(`{"reason":"keep-alive"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		n, err := parseNotice(line)
		if err != nil {
			return
		}
		if n.Reason == "" || n.DelayMS < 0 || n.DelayMS > api.MaxNoticeDelay.Milliseconds() {
			t.Fatalf("accepted %+v from %q", n, line)
		}
	})
}
