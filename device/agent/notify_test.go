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

// TestMalformedCapabilityDigestIsNotTrusted: what a check-in says of the development capability
// is trusted only as "" (none) or 64 lowercase hex characters; anything else is taken as not
// said, and the device asks for the capability as an older service would have it do.
func TestMalformedCapabilityDigestIsNotTrusted(t *testing.T) {
	s := func(v string) *string { return &v }
	good := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in   *string
		want *string
	}{
		{nil, nil},
		{s(""), s("")},
		{s(good), s(good)},
		{s(strings.ToUpper(good)), nil},
		{s(good[:63]), nil},
		{s(good + "00"), nil},
		{s(strings.Repeat("zz", 32)), nil},
	} {
		got := capabilityDigest(tc.in)
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("capabilityDigest(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
