package tpm

import (
	"bytes"
	"testing"

	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
)

// The longest log fits the evidence.
func TestMaxLogFitsEvidence(t *testing.T) {
	if n := len(testLog(MaxEvents).Marshal()); n != MaxLogSize || n > evidence.MaxEventLogSize {
		t.Fatalf("a log of %d events is %d bytes; MaxLogSize %d, the evidence takes %d", MaxEvents, n, MaxLogSize, evidence.MaxEventLogSize)
	}
}

func testLog(n int) *Log {
	l := &Log{PCR: 15}
	for i := range n {
		var m dice.Measurements
		m.Runtime[0], m.Mode = byte(i), dice.ModeNormal
		l.Events = append(l.Events, Record(m))
	}
	return l
}

func TestLogRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 3, MaxEvents} {
		l := testLog(n)
		b := l.Marshal()
		got, err := ParseLog(b)
		if err != nil {
			t.Fatalf("%d events: %v", n, err)
		}
		if len(got.Events) != n || (n > 0 && got.PCR != 15) || got.Replay() != l.Replay() {
			t.Fatalf("%d events: read back %d events of PCR %d", n, len(got.Events), got.PCR)
		}
		if !bytes.Equal(got.Marshal(), b) && n > 0 {
			t.Fatalf("%d events: re-encoding differs", n)
		}
	}
}

func TestParseLogRefuses(t *testing.T) {
	good := testLog(2).Marshal()
	tooMany := testLog(MaxEvents)
	tooMany.Events = append(tooMany.Events, tooMany.Events[0])
	mixed := testLog(2).Marshal()
	mixed = append(mixed, (&Log{PCR: 14, Events: testLog(1).Events}).Marshal()[headerSize:]...)
	badDigest := bytes.Clone(good)
	badDigest[headerSize+20] ^= 1
	badMode := bytes.Clone(good)
	badMode[len(badMode)-1] = 9
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"other header":   append([]byte{1}, good[1:]...),
		"too many":       tooMany.Marshal(),
		"two PCRs":       mixed,
		"wrong digest":   badDigest,
		"invalid mode":   badMode,
		"over the limit": make([]byte, MaxLogSize+1),
	} {
		if _, err := ParseLog(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParseLog(f *testing.F) {
	f.Add(testLog(0).Marshal())
	f.Add(testLog(2).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLog(b)
		if err != nil {
			return
		}
		if len(l.Events) > 0 && !bytes.Equal(l.Marshal(), b) {
			t.Fatal("a parsed log does not re-encode to its bytes")
		}
	})
}
