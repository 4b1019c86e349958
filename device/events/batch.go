package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
)

// batch is what one upload sends: events as sent, and the dropped count as it was.
type batch struct {
	events  []api.DeviceEvent
	dropped int64
}

// take returns the next batch, oldest events first: at most n events and, encoded, at most
// api.MaxEventBatchSize bytes; their detail stripped unless the service's last answer allowed
// crash dumps. No repeat is folded into an event once it has been sent: the service, which may
// have stored it though its answer was lost, would take the new count for a duplicate. Events
// too old for the service to take are dropped, and counted, first.
func (q *Queue) take(n int) (batch, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.key == nil {
		return batch{}, errReadOnly // only what verifies under the key leaves the device
	}
	h, evs, err := q.read()
	if err != nil {
		return batch{}, err
	}
	oldest := q.now().Add(-api.MaxEventAge + time.Hour) // an hour's margin for the upload and the clocks
	var old map[string]bool
	for _, e := range evs {
		if e.FirstAt.Before(oldest) {
			if old == nil {
				old = map[string]bool{}
			}
			old[e.ID] = true
		}
	}
	if old != nil {
		if err := q.remove(old, true); err != nil {
			return batch{}, err
		}
		if h, evs, err = q.read(); err != nil {
			return batch{}, err
		}
	}
	b := batch{dropped: h.Dropped}
	sent := map[string]bool{}
	defer q.forget(sent)
	size := 64
	for _, e := range evs {
		if len(b.events) == n {
			break
		}
		if !h.AllowCrashDumps {
			e.Detail = ""
		}
		enc, err := json.Marshal(e)
		if err != nil {
			return batch{}, err
		}
		if size+len(enc)+1 > api.MaxEventBatchSize {
			break
		}
		size += len(enc) + 1
		b.events = append(b.events, e)
		sent[e.ID] = true
	}
	return b, nil
}

// ack removes a batch that the service took, takes its dropped count off the queue's, and
// records the time and whether the service wants crash detail.
func (q *Queue) ack(b batch, allowCrashDumps bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := map[string]bool{}
	for _, e := range b.events {
		ids[e.ID] = true
	}
	err := q.rewrite(func(h *header, evs []api.DeviceEvent) []api.DeviceEvent {
		h.Dropped = max(h.Dropped-b.dropped, 0)
		h.AllowCrashDumps = allowCrashDumps
		h.LastUpload = q.now().UTC()
		return without(evs, ids)
	}, 0)
	if err != nil {
		return fmt.Errorf("event queue: %w", err)
	}
	return nil
}

// drop removes an event that the service refused, and counts it as dropped.
func (q *Queue) drop(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.remove(map[string]bool{id: true}, true); err != nil {
		return fmt.Errorf("event queue: %w", err)
	}
	return nil
}

// remove rewrites the queue without the events ids, counting those removed as dropped if
// count.
func (q *Queue) remove(ids map[string]bool, count bool) error {
	q.forget(ids)
	return q.rewrite(func(h *header, evs []api.DeviceEvent) []api.DeviceEvent {
		kept := without(evs, ids)
		if count {
			h.Dropped += int64(len(evs) - len(kept))
		}
		return kept
	}, 0)
}

// forget stops folding repeats into the events ids.
func (q *Queue) forget(ids map[string]bool) {
	for k, e := range q.recent {
		if ids[e.ID] {
			delete(q.recent, k)
		}
	}
}

func without(evs []api.DeviceEvent, ids map[string]bool) []api.DeviceEvent {
	kept := evs[:0]
	for _, e := range evs {
		if !ids[e.ID] {
			kept = append(kept, e)
		}
	}
	return kept
}
