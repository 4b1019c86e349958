package servicetest

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// EventStore is what the stand-in does with error events (api.DevicePathEvents). Set its
// fields under the Service's Lock.
type EventStore struct {
	// Events are the events stored, by ID: an ID sent again is a duplicate, not stored again.
	Events map[string]api.DeviceEvent
	// Received counts how often each ID was received, duplicates included.
	Received map[string]int
	// Batches are the batches received, in order, whatever the answer.
	Batches []api.EventBatch
	// Dropped sums the Dropped of the batches taken.
	Dropped int64
	// AllowCrashDumps is the answer's AllowCrashDumps.
	AllowCrashDumps bool
	// LoseAcks: the next LoseAcks batches are stored, then the connection is closed without
	// an answer, as when a response is lost on its way.
	LoseAcks int
	// RetryAfter, if not zero, answers the next batch 429 with this Retry-After, in seconds,
	// and is then cleared.
	RetryAfter int
	// RefuseDescription refuses, with 400 naming its index, a batch holding an event with
	// this description, as the service refuses a batch with an event it finds bad.
	RefuseDescription string
}

func (s *Service) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.device(w, r); !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.problem("event batch with Content-Type %q", ct)
	}
	var b api.EventBatch
	if err := strictjson.DecodeReader(r.Body, api.MaxEventBatchSize, &b); err != nil {
		s.problem("event batch body: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request"})
		return
	}
	if len(b.Events) > api.MaxEventsPerBatch || b.Dropped < 0 || b.Dropped > api.MaxEventsDropped {
		s.problem("event batch of %d events, %d dropped", len(b.Events), b.Dropped)
	}
	now := time.Now()
	for i := range b.Events {
		if err := b.Events[i].Check(now); err != nil { // the service's own rule
			s.problem("events[%d]: %v", i, err)
		}
	}
	s.Lock()
	defer s.Unlock()
	st := &s.EventStore
	st.Batches = append(st.Batches, b)
	if st.RetryAfter != 0 {
		w.Header().Set("Retry-After", strconv.Itoa(st.RetryAfter))
		st.RetryAfter = 0
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many events from this device"})
		return
	}
	for i, e := range b.Events {
		if st.RefuseDescription != "" && e.Description == st.RefuseDescription {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("events[%d]: refused for this test", i)})
			return
		}
	}
	if st.Events == nil {
		st.Events, st.Received = map[string]api.DeviceEvent{}, map[string]int{}
	}
	var resp api.EventBatchResponse
	for _, e := range b.Events {
		st.Received[e.ID]++
		if _, dup := st.Events[e.ID]; dup {
			resp.Duplicates++
			continue
		}
		st.Events[e.ID] = e
		resp.Accepted++
	}
	st.Dropped += b.Dropped
	if st.LoseAcks > 0 {
		st.LoseAcks--
		panic(http.ErrAbortHandler) // the connection closes: no answer
	}
	resp.AllowCrashDumps = st.AllowCrashDumps
	writeJSON(w, http.StatusOK, resp)
}
