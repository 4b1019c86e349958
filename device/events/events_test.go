package events_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

const deviceID = ident.DeviceID("4d2b0ac7c6ef1c2c8e3b5a0f6f5a8a3e1f3d2c1b0a9e8d7c6b5a4f3e2d1c0b9a")

func crash(n int) api.DeviceEvent {
	e := events.New(api.EventAppCrash, api.ClassApp, api.TypeUnplanned, fmt.Sprintf("panic: crash %d", n))
	e.ComponentID, e.ImageID = "5c8d3e4a-7b21-4f0e-9a6d-2e1f3c4b5a69", "6c8d3e4a-7b21-4f0e-9a6d-2e1f3c4b5a69"
	return e
}

func appendAll(t *testing.T, q *events.Queue, es ...api.DeviceEvent) {
	t.Helper()
	for _, e := range es {
		if err := q.Append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func queued(t *testing.T, q *events.Queue) ([]api.DeviceEvent, int64) {
	t.Helper()
	es, dropped, err := q.Events()
	if err != nil {
		t.Fatal(err)
	}
	return es, dropped
}

// uploader returns an uploader of the queue in dir to svc, over mutual TLS.
func uploader(t *testing.T, svc *servicetest.Service, dir state.Dir) *events.Uploader {
	t.Helper()
	cert, key := svc.DeviceCertificate(t, deviceID)
	c := servicetest.Client(t, svc.CAPEM, cert, key)
	return &events.Uploader{Queue: open(t, dir), ServiceURL: svc.URL, Client: func() *http.Client { return c }}
}

func noProblems(t *testing.T, svc *servicetest.Service) {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	for _, p := range svc.Problems {
		t.Errorf("the stand-in saw a malformed request: %s", p)
	}
}

// TestEventsSurviveRestart: events queued before a restart are there after it, in order,
// with the IDs they were given, and a repeat folds into its event.
func TestEventsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := state.Dir(t.TempDir())
	q := open(t, dir)
	appendAll(t, q, crash(1), crash(2), crash(2), crash(3))
	before, _ := queued(t, q)

	after, dropped := queued(t, open(t, dir))
	if len(after) != 3 || dropped != 0 {
		t.Fatalf("after a restart: %d events, %d dropped; want 3 and 0", len(after), dropped)
	}
	for i, e := range after {
		if !ident.IsID(e.ID) || e.ID != before[i].ID || e.Description != fmt.Sprintf("panic: crash %d", i+1) {
			t.Errorf("event %d after the restart: %+v", i, e)
		}
	}
	if after[1].Count != 2 || after[0].Count != 1 || after[1].LastAt.Before(after[1].FirstAt) {
		t.Errorf("counts %d, %d: want the repeat folded into the second event", after[0].Count, after[1].Count)
	}
	if fi, err := os.Stat(dir.Path(state.FileEvents)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("events.jsonl: %v, %v", fi, err)
	}
}

// TestEventQueueBoundedDropsOldest: an app that crashes without end cannot fill the disk: the
// queue stays within its bound, keeps the newest events, and the count of those it dropped
// goes to the service with the next batch.
func TestEventQueueBoundedDropsOldest(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir := state.Dir(t.TempDir())
	q := open(t, dir)
	const n = 3000
	pad := strings.Repeat("x", 700)
	for i := range n {
		e := crash(i)
		e.Description += " " + pad
		appendAll(t, q, e)
		if i%250 == 0 {
			if fi, err := os.Stat(dir.Path(state.FileEvents)); err != nil || fi.Size() > state.MaxEventQueue {
				t.Fatalf("after %d events: %v, %v", i, fi.Size(), err)
			}
		}
	}
	es, dropped := queued(t, q)
	if dropped == 0 || int(dropped)+len(es) != n {
		t.Fatalf("%d events kept and %d dropped, want %d in all", len(es), dropped, n)
	}
	if !strings.HasPrefix(es[0].Description, fmt.Sprintf("panic: crash %d ", dropped)) ||
		!strings.HasPrefix(es[len(es)-1].Description, fmt.Sprintf("panic: crash %d ", n-1)) {
		t.Errorf("kept %q … %q: want the newest, after %d dropped", es[0].Description[:20], es[len(es)-1].Description[:20], dropped)
	}

	sent, err := uploader(t, svc, dir).Upload(context.Background())
	if err != nil || sent != len(es) {
		t.Fatalf("upload: %d sent, %v; want %d", sent, err, len(es))
	}
	svc.Lock()
	if svc.EventStore.Dropped != dropped || svc.EventStore.Batches[0].Dropped != dropped || len(svc.EventStore.Events) != len(es) {
		t.Errorf("the service learnt of %d dropped (first batch %d) and %d events; want %d and %d",
			svc.EventStore.Dropped, svc.EventStore.Batches[0].Dropped, len(svc.EventStore.Events), dropped, len(es))
	}
	svc.Unlock()
	if st, err := q.Stats(); err != nil || st.Queued != 0 || st.Dropped != 0 || st.LastUpload.IsZero() {
		t.Errorf("after the upload: %+v, %v; want nothing queued or dropped, and the upload's time", st, err)
	}
	noProblems(t, svc)
}

// TestDroppedEventNotFoldedInto: once the bounded queue drops an event, a repeat of it is a
// new event, not folded into the dropped one — which would bring it back under its old ID with
// a count that the dropped count already holds, so that the service would count it twice.
func TestDroppedEventNotFoldedInto(t *testing.T) {
	t.Parallel()
	dir := state.Dir(t.TempDir())
	q := open(t, dir)
	pad := strings.Repeat("x", 700)
	padded := func(n int) api.DeviceEvent {
		e := crash(n)
		e.Description += " " + pad
		return e
	}
	appendAll(t, q, padded(0))
	first, _ := queued(t, q)
	appended := 1
	for dropped := int64(0); dropped == 0; {
		for range 100 {
			appendAll(t, q, padded(appended))
			appended++
		}
		_, dropped = queued(t, q)
	}
	appendAll(t, q, padded(0))
	appended++

	es, dropped := queued(t, q)
	var total int64
	for _, e := range es {
		total += int64(e.Count)
		if e.ID == first[0].ID {
			t.Errorf("the dropped event %s is back in the queue with count %d", e.ID, e.Count)
		}
	}
	if last := es[len(es)-1]; last.Count != 1 || !strings.HasPrefix(last.Description, "panic: crash 0 ") {
		t.Errorf("the repeat: %q with count %d; want a new event of count 1", last.Description[:20], last.Count)
	}
	if total+dropped != int64(appended) {
		t.Errorf("%d counted in the queue and %d dropped; want %d in all", total, dropped, appended)
	}
}

// TestTornLastLineSkipped: a power cut in the middle of an append leaves half a line; the
// queue skips it rather than failing, and the next event is not glued to it.
func TestTornLastLineSkipped(t *testing.T) {
	t.Parallel()
	dir := state.Dir(t.TempDir())
	q := open(t, dir)
	appendAll(t, q, crash(1), crash(2))
	f, err := os.OpenFile(dir.Path(state.FileEvents), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"` + ident.NewID() + `","category":"AppCrash","class":"app","ty`)
	f.Close()

	q = open(t, dir) // after the power cut
	if es, _ := queued(t, q); len(es) != 2 {
		t.Fatalf("%d events after a torn append; want the 2 whole ones", len(es))
	}
	appendAll(t, q, crash(3))
	es, _ := queued(t, q)
	if len(es) != 3 || es[2].Description != "panic: crash 3" {
		t.Fatalf("after one more event: %+v", es)
	}
}

// TestUploadRetriesAfterServiceOutage: events queued while the service is down, then sent
// again after an answer lost on its way back, are each stored once: none lost, none twice.
func TestUploadRetriesAfterServiceOutage(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir := state.Dir(t.TempDir())
	u := uploader(t, svc, dir)
	const n = 250 // three batches
	for i := range n {
		appendAll(t, u.Queue, crash(i))
	}
	ctx := context.Background()

	svc.Lock()
	svc.Down = true
	svc.Unlock()
	if sent, err := u.Upload(ctx); err == nil || sent != 0 {
		t.Fatalf("upload while the service is down: %d sent, %v", sent, err)
	}
	if st, _ := u.Queue.Stats(); st.Queued != n {
		t.Fatalf("%d queued after a failed upload, want %d", st.Queued, n)
	}

	svc.Lock()
	svc.Down = false
	svc.EventStore.LoseAcks = 1 // the first batch is stored, but its answer never arrives
	svc.Unlock()
	if _, err := u.Upload(ctx); err == nil {
		t.Fatal("upload with a lost answer: no error")
	}
	if st, _ := u.Queue.Stats(); st.Queued != n {
		t.Fatalf("%d queued after a lost answer, want %d: nothing leaves before the service says so", st.Queued, n)
	}
	if sent, err := u.Upload(ctx); err != nil || sent != n {
		t.Fatalf("upload once the service is back: %d sent, %v", sent, err)
	}

	svc.Lock()
	defer svc.Unlock()
	st := svc.EventStore
	if len(st.Events) != n {
		t.Errorf("%d events stored, want %d", len(st.Events), n)
	}
	twice := 0
	for _, c := range st.Received {
		if c > 1 {
			twice++
		}
	}
	if twice != api.MaxEventsPerBatch {
		t.Errorf("%d events were received twice; want the %d of the batch whose answer was lost", twice, api.MaxEventsPerBatch)
	}
	if q, _ := u.Queue.Stats(); q.Queued != 0 {
		t.Errorf("%d still queued", q.Queued)
	}
	svc.Unlock()

	// A repeat after a lost answer is not folded into the event the service may hold already:
	// the service would count it a duplicate, and the repeat would be lost.
	appendAll(t, u.Queue, crash(-1))
	svc.Lock()
	svc.EventStore.LoseAcks = 1
	svc.Unlock()
	if _, err := u.Upload(ctx); err == nil {
		t.Fatal("upload with a lost answer: no error")
	}
	appendAll(t, u.Queue, crash(-1))
	if _, err := u.Upload(ctx); err != nil {
		t.Fatal(err)
	}
	svc.Lock()
	total := 0
	for _, e := range svc.EventStore.Events {
		if e.Description == crash(-1).Description {
			total += e.Count
		}
	}
	if total != 2 {
		t.Errorf("the service counts %d of 2 repeats sent around a lost answer", total)
	}
}

// TestPoisonedEventDropped: an event the service refuses (400 naming its index) is dropped
// and counted, and the rest of its batch is sent: one bad event cannot block the queue.
func TestPoisonedEventDropped(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.EventStore.RefuseDescription = "poison"
	svc.Unlock()
	dir := state.Dir(t.TempDir())
	u := uploader(t, svc, dir)
	appendAll(t, u.Queue, crash(0), crash(1), events.New(api.EventUpdateFailed, api.ClassOS, api.TypeUnplanned, "poison"), crash(3))
	sent, err := u.Upload(context.Background())
	if err != nil || sent != 3 {
		t.Fatalf("upload: %d sent, %v; want 3", sent, err)
	}
	svc.Lock()
	defer svc.Unlock()
	for _, e := range svc.EventStore.Events {
		if e.Description == "poison" {
			t.Error("the refused event was stored")
		}
	}
	if len(svc.EventStore.Events) != 3 || svc.EventStore.Dropped != 1 {
		t.Errorf("%d stored, %d dropped reported; want 3 and 1", len(svc.EventStore.Events), svc.EventStore.Dropped)
	}
	if st, _ := u.Queue.Stats(); st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("queue after: %+v", st)
	}
}

// TestRateLimitedUploadWaits: a 429 is obeyed: nothing is sent again before its Retry-After,
// not even when a check-in says the device is online.
func TestRateLimitedUploadWaits(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.EventStore.RetryAfter = 30
	svc.Unlock()
	dir := state.Dir(t.TempDir())
	u := uploader(t, svc, dir)
	appendAll(t, u.Queue, crash(1))
	waits, fire := make(chan time.Duration), make(chan time.Time)
	u.After = func(d time.Duration) <-chan time.Time { waits <- d; return fire }
	batches := func() int {
		svc.Lock()
		defer svc.Unlock()
		return len(svc.EventStore.Batches)
	}
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); u.Run(ctx, kick) }()
	defer func() { cancel(); <-done }()

	if d := <-waits; d != events.DefaultInterval {
		t.Errorf("first wait %s, want the interval", d)
	}
	kick <- struct{}{} // checked in: upload now; the service answers 429
	if d := <-waits; d <= 29*time.Second || d > 30*time.Second {
		t.Errorf("wait after a 429 with Retry-After: 30: %s", d)
	}
	kick <- struct{}{} // another check-in must not cut the wait short
	if d := <-waits; d <= 28*time.Second || d > 30*time.Second {
		t.Errorf("wait after a kick while rate-limited: %s", d)
	}
	if n := batches(); n != 1 {
		t.Fatalf("%d batches before the Retry-After was over; want only the refused one", n)
	}
	fire <- time.Now() // the wait is over
	if d := <-waits; d != events.DefaultInterval {
		t.Errorf("wait after the upload: %s, want the interval", d)
	}
	svc.Lock()
	stored := len(svc.EventStore.Events)
	svc.Unlock()
	if n := batches(); n != 2 || stored != 1 {
		t.Errorf("%d batches, %d events stored; want 2 and 1", n, stored)
	}
}

// TestCrashDetailOnlyWhenAllowed: a crash's stack trace leaves the device only after the
// service has said that the device's group collects crash dumps, and that is remembered
// across restarts.
func TestCrashDetailOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir := state.Dir(t.TempDir())
	ctx := context.Background()
	withDetail := func(n int) api.DeviceEvent {
		e := crash(n)
		e.Detail = fmt.Sprintf("wasm stack trace %d:\n\tmain.main()", n)
		return e
	}
	stored := func(n int) api.DeviceEvent {
		t.Helper()
		svc.Lock()
		defer svc.Unlock()
		for _, e := range svc.EventStore.Events {
			if e.Description == crash(n).Description {
				return e
			}
		}
		t.Fatalf("event %d not stored", n)
		return api.DeviceEvent{}
	}
	upload := func() {
		t.Helper()
		if _, err := uploader(t, svc, dir).Upload(ctx); err != nil { // a new uploader and queue: a restart
			t.Fatal(err)
		}
	}

	appendAll(t, open(t, dir), withDetail(1))
	upload()
	if d := stored(1).Detail; d != "" {
		t.Errorf("detail sent before the service allowed it: %q", d)
	}
	svc.Lock()
	svc.EventStore.AllowCrashDumps = true // the group now collects crash dumps
	svc.Unlock()
	appendAll(t, open(t, dir), withDetail(2))
	upload()
	if d := stored(2).Detail; d != "" {
		t.Errorf("detail sent while the last answer said no crash dumps: %q", d)
	}
	appendAll(t, open(t, dir), withDetail(3))
	upload()
	if d := stored(3).Detail; d != withDetail(3).Detail {
		t.Errorf("detail %q after the service allowed crash dumps", d)
	}
	svc.Lock()
	svc.EventStore.AllowCrashDumps = false
	svc.Unlock()
	appendAll(t, open(t, dir), withDetail(4), withDetail(5))
	upload()
	appendAll(t, open(t, dir), withDetail(6))
	upload()
	if d := stored(6).Detail; d != "" {
		t.Errorf("detail sent after the service withdrew crash dumps: %q", d)
	}
	if _, err := os.Stat(filepath.Join(string(dir), state.FileEvents)); err != nil {
		t.Error(err)
	}
}

// testKey is the storage key of the tests' queues.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// open opens the queue of dir as stage 1 does, under testKey.
func open(t *testing.T, dir state.Dir) *events.Queue {
	t.Helper()
	q, err := events.OpenSealed(dir, testKey, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
