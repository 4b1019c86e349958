package state_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/state"
)

// TestEventLogFloodIsBounded: an app that crashes without end cannot fill the disk: the log
// stays within MaxEventLog, keeps the newest events and counts the ones it dropped.
func TestEventLogFloodIsBounded(t *testing.T) {
	t.Parallel()
	d := state.Dir(t.TempDir())
	l := d.EventLog()
	type ev struct {
		N   int    `json:"n"`
		Pad string `json:"pad"`
	}
	const n = 3000
	pad := strings.Repeat("x", 1000)
	for i := range n {
		if err := l.Append(ev{N: i, Pad: pad}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if fi, err := os.Stat(d.Path(state.FileEvents)); err != nil || fi.Size() > state.MaxEventLog {
				t.Fatalf("after %d events: %v, %v", i, fi.Size(), err)
			}
		}
	}
	if err := l.Append(ev{N: -1, Pad: strings.Repeat("y", state.MaxEvent)}); err != nil {
		t.Fatal(err) // too large: dropped and counted
	}
	fi, err := os.Stat(d.Path(state.FileEvents))
	if err != nil || fi.Size() > state.MaxEventLog || fi.Mode().Perm() != 0o600 {
		t.Fatalf("events.jsonl: %v, %v", fi, err)
	}
	events, dropped, err := d.ReadEvents()
	if err != nil {
		t.Fatal(err)
	}
	var last ev
	if err := json.Unmarshal(events[len(events)-1], &last); err != nil || last.N != n-1 {
		t.Errorf("the newest event is %+v, %v; want %d", last, err, n-1)
	}
	if int(dropped)+len(events) != n+1 {
		t.Errorf("%d events kept and %d dropped, want %d in all", len(events), dropped, n+1)
	}
	var first ev
	json.Unmarshal(events[0], &first)
	if first.N != int(dropped)-1 { // the oversized event counts too
		t.Errorf("the oldest kept event is %d, but %d were dropped", first.N, dropped)
	}
}
