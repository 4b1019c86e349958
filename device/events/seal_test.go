package events_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// logLines collects what a queue logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(strings.ReplaceAll(f, "%.80q", "")))
}

func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ln := range l.lines {
		if strings.Contains(ln, s) {
			n++
		}
	}
	return n
}

// plant appends lines to the queue's file, as someone without the key could.
func plant(t *testing.T, dir state.Dir, name string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(dir.Path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ln := range lines {
		f.WriteString(ln + "\n")
	}
}

// TestPlantedEventIsNotUploaded plants events in the state folder's queue: plain lines (as
// the queue was before it was sealed), a line with a made-up MAC, a line sealed under another
// runtime's storage key, and a header that asks for crash detail. None reaches the service,
// each is logged once, and the queue is rewritten without them.
func TestPlantedEventIsNotUploaded(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir := state.Dir(t.TempDir())
	other := state.Dir(t.TempDir())
	q := open(t, dir)
	real := crash(1)
	real.Detail = "the stack"
	appendAll(t, q, real)
	forged := `{"id":"` + ident.NewID() + `","category":"AppCrash","class":"app","type":"unplanned","description":"forged","count":1,"first_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z"}`
	oq, err := events.OpenSealed(other, []byte("another runtime's storage key..."), nil)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, oq, events.New(api.EventAppCrash, api.ClassApp, api.TypeUnplanned, "sealed elsewhere"))
	elsewhere, _ := os.ReadFile(other.Path(state.FileEvents))
	plant(t, dir, state.FileEvents, forged, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "+forged, strings.TrimSpace(string(elsewhere)))
	b, _ := os.ReadFile(dir.Path(state.FileEvents))
	os.WriteFile(dir.Path(state.FileEvents), append([]byte(`{"kind":"queue","allow_crash_dumps":true}`+"\n"), b...), 0o600)

	var l logLines
	q, err = events.OpenSealed(dir, testKey, l.logf)
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := queued(t, q); len(es) != 1 || es[0].Description != real.Description {
		t.Fatalf("queued: %+v; want the real event only", es)
	}
	if err := q.Adopt(); err != nil {
		t.Fatal(err)
	}
	if n := l.count("dropping a record that does not authenticate"); n != 4 {
		t.Errorf("%d lines logged for 4 planted records:\n%s", n, strings.Join(l.lines, "\n"))
	}
	after, _ := os.ReadFile(dir.Path(state.FileEvents))
	if strings.Contains(string(after), "forged") || strings.Contains(string(after), "allow_crash_dumps") || strings.Contains(string(after), "elsewhere") {
		t.Errorf("the planted lines are still queued:\n%s", after)
	}

	u := uploader(t, svc, dir)
	u.Queue = q
	if n, err := u.Upload(context.Background()); err != nil || n != 1 {
		t.Fatalf("upload: %d, %v; want the real event", n, err)
	}
	svc.Lock()
	defer svc.Unlock()
	for _, e := range svc.EventStore.Events {
		if e.Description != "panic: crash 1" {
			t.Errorf("the service stored a planted event: %+v", e)
		}
		if e.Detail != "" {
			t.Errorf("crash detail left the device on a planted header's say-so: %q", e.Detail)
		}
	}
}

// TestQueueWithoutKeyCannotUpload: what is read without the key is for `rampart-device
// status` only.
func TestQueueWithoutKeyCannotUpload(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir := state.Dir(t.TempDir())
	appendAll(t, open(t, dir), crash(1))
	if err := events.Open(dir).Append(crash(2)); err == nil {
		t.Error("a queue opened without the key appended")
	}
	u := uploader(t, svc, dir)
	u.Queue = events.Open(dir)
	if _, err := u.Upload(context.Background()); err == nil {
		t.Error("a queue opened without the key uploaded")
	}
	if es, _ := queued(t, events.Open(dir)); len(es) != 1 {
		t.Errorf("read without the key: %+v", es)
	}
	if _, err := events.OpenSealed(dir, nil, nil); err == nil {
		t.Error("a sealed queue without a key")
	}
}

// TestStageZeroEventsAdopted: stage 0's events, queued without a key, join the sealed queue
// when stage 1 starts, once though the move is repeated; events of kinds stage 0 never records
// are dropped.
func TestStageZeroEventsAdopted(t *testing.T) {
	t.Parallel()
	dir := state.Dir(t.TempDir())
	rollback := events.New(api.EventSlotRollback, api.ClassOS, api.TypeUnplanned, "rolled back")
	if err := events.AppendBoot(dir, rollback); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(dir.Path(state.FileBootEvents))
	plant(t, dir, state.FileBootEvents, `{"id":"`+ident.NewID()+`","category":"AppCrash","class":"app","type":"unplanned","description":"forged","count":1,"first_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z"}`)
	if es, _ := queued(t, events.Open(dir)); len(es) != 2 {
		t.Errorf("status sees %d events, want stage 0's 2", len(es))
	}

	var l logLines
	q, _ := events.OpenSealed(dir, testKey, l.logf)
	if err := q.Adopt(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dir.Path(state.FileBootEvents), saved, 0o600) // as if stage 1 died before removing it
	if err := q.Adopt(); err != nil {
		t.Fatal(err)
	}
	es, _ := queued(t, q)
	if len(es) != 1 || es[0].Category != api.EventSlotRollback || es[0].Description != "rolled back" {
		t.Errorf("queued: %+v; want stage 0's rollback, once", es)
	}
	if l.count("stage 0 records none") != 1 {
		t.Errorf("the AppCrash from boot-events.jsonl was not logged: %q", l.lines)
	}
	if _, err := os.Stat(dir.Path(state.FileBootEvents)); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", state.FileBootEvents, err)
	}
}

// FuzzSealedQueue: a sealed queue reads any file without failing, and returns only events
// whose lines were sealed under its key.
func FuzzSealedQueue(f *testing.F) {
	dir := state.Dir(f.TempDir())
	q, _ := events.OpenSealed(dir, testKey, nil)
	e := crash(1)
	e.ID = "2b7e1516-28ae-4d2a-9a6d-09cf4f3c0001" // the same in every fuzzing process
	q.Append(e)
	good, _ := os.ReadFile(dir.Path(state.FileEvents))
	f.Add(good)
	f.Add([]byte(`{"kind":"queue","dropped":3}` + "\n" + string(good)))
	f.Add(append(append([]byte{}, good...), good[:20]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := state.Dir(t.TempDir())
		os.WriteFile(d.Path(state.FileEvents), b, 0o600)
		q, _ := events.OpenSealed(d, testKey, nil)
		es, _, err := q.Events()
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range es {
			if x.ID != e.ID {
				t.Fatalf("an event that was never sealed: %+v", x)
			}
		}
	})
}
