package apphost

import "time"

// Event is something that happened to an app, for error reporting.
type Event struct {
	Time        time.Time     `json:"time"`
	App         string        `json:"app"` // the manifest's Name
	ComponentID string        `json:"component_id"`
	ImageID     string        `json:"image_id,omitempty"`
	Kind        EventKind     `json:"kind"`
	ExitCode    int           `json:"exit_code,omitempty"` // EventExit
	Message     string        `json:"message,omitempty"`   // the trap, panic line or refusal
	Backoff     time.Duration `json:"backoff,omitempty"`   // EventRestart: the wait before it
	Detail      string        `json:"detail,omitempty"`    // EventTrap: the whole trap with its stack trace
}

// EventKind says what an Event is.
type EventKind string

// Kinds of event.
const (
	EventStart     EventKind = "start"      // a run began
	EventExit      EventKind = "exit"       // the app exited (Message: its panic line, if any)
	EventTrap      EventKind = "trap"       // the app trapped (Message: the trap)
	EventRestart   EventKind = "restart"    // the app will be restarted after Backoff
	EventStop      EventKind = "stop"       // the app was stopped
	EventRefused   EventKind = "refused"    // the image cannot run (Message: why)
	EventHostPanic EventKind = "host_panic" // a host function panicked; the app got ErrIO
	// EventStorageRefused: a file of the app's storage did not authenticate (Message: which,
	// and why); it was removed and the app found no such file.
	EventStorageRefused EventKind = "storage_refused"
)

// Kinds of update, for NotifyUpdatePending and Deferred.
const (
	UpdateApplication = "application"
	UpdateRuntime     = "runtime"
)

// SystemEvent is what events_next gives an app, as JSON.
type SystemEvent struct {
	Type     string    `json:"type"` // one of the SystemEvent… types
	Kind     string    `json:"kind"` // UpdateApplication or UpdateRuntime
	Deadline time.Time `json:"deadline"`
}

// Types of SystemEvent: the life of one update, as Azure Sphere's SysEvent_Status tells it.
const (
	// SystemEventPending: the update will be installed at Deadline unless an app defers it.
	SystemEventPending = "update_pending"
	// SystemEventDeferred: an app deferred it; Deadline is until when it is deferred.
	SystemEventDeferred = "update_deferred"
	// SystemEventFinal: it is being installed now and can no longer be deferred.
	SystemEventFinal = "update_final"
	// SystemEventComplete: an application update has been installed (a runtime update
	// restarts the runtime and its apps, so none is told).
	SystemEventComplete = "update_complete"
)

// pendingUpdate is an update the update client announced.
type pendingUpdate struct {
	since     time.Time            // first announced: deferrals count from here
	deadline  time.Time            // when it installs unless deferred
	deferrals map[string]time.Time // until when each app (by component ID) deferred it
}

// until returns until when the apps deferred p.
func (p *pendingUpdate) until() time.Time {
	var t time.Time
	for _, u := range p.deferrals {
		if u.After(t) {
			t = u
		}
	}
	return t
}

func maxDefer(kind string) time.Duration {
	if kind == UpdateRuntime {
		return MaxDeferRuntime
	}
	return MaxDeferApplication
}

// NotifyUpdatePending tells apps with SystemEventNotifications that an update of kind
// (UpdateApplication or UpdateRuntime) will be installed at deadline unless deferred. A zero
// deadline says it is no longer pending (installed or withdrawn) and forgets its deferrals;
// apps are told that an application update is complete.
func (h *Host) NotifyUpdatePending(kind string, deadline time.Time) {
	h.mu.Lock()
	if deadline.IsZero() {
		_, was := h.pending[kind]
		delete(h.pending, kind)
		h.mu.Unlock()
		if was && kind == UpdateApplication {
			h.broadcast(SystemEvent{Type: SystemEventComplete, Kind: kind})
		}
		return
	}
	p := h.pending[kind]
	if p == nil {
		p = &pendingUpdate{since: h.now(), deferrals: map[string]time.Time{}}
		h.pending[kind] = p
	}
	p.deadline = deadline
	h.mu.Unlock()
	h.broadcast(SystemEvent{Type: SystemEventPending, Kind: kind, Deadline: deadline.UTC()})
}

// NotifyUpdateFinal tells apps with SystemEventNotifications that the pending update of kind
// is being installed now: no deferral holds it any longer.
func (h *Host) NotifyUpdateFinal(kind string) {
	h.broadcast(SystemEvent{Type: SystemEventFinal, Kind: kind, Deadline: h.now().UTC()})
}

// broadcast queues ev for every app (queueEvent keeps it only for those with
// SystemEventNotifications).
func (h *Host) broadcast(ev SystemEvent) {
	h.mu.Lock()
	apps := make([]*app, 0, len(h.apps))
	for _, a := range h.apps {
		apps = append(apps, a)
	}
	h.mu.Unlock()
	for _, a := range apps {
		a.queueEvent(ev)
	}
}

// Deferred returns until when apps have deferred the pending update of kind, or the zero time
// if they have not (or none is pending). It is never more than MaxDeferApplication or
// MaxDeferRuntime after the update was first announced. A deferral that has ended is returned
// as it was, a time not after now: the update may go ahead.
func (h *Host) Deferred(kind string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.pending[kind]; p != nil {
		return p.until()
	}
	return time.Time{}
}

// Resumed receives when an app has ended its deferral early (Azure Sphere's
// SysEvent_ResumeEvent) and no other app's deferral holds the update: the update client should
// run again now rather than at its next check-in.
func (h *Host) Resumed() <-chan struct{} { return h.resumed }

// deferUpdate records app cid's deferral of the pending update of kind by d; false if none is
// pending. A deferral is never shortened by a later one, only ended by resumeUpdate.
func (h *Host) deferUpdate(cid, kind string, d time.Duration) bool {
	h.mu.Lock()
	p := h.pending[kind]
	if p == nil {
		h.mu.Unlock()
		return false
	}
	until := h.now().Add(d)
	if limit := p.since.Add(maxDefer(kind)); until.After(limit) {
		until = limit
	}
	if until.After(p.deferrals[cid]) {
		p.deferrals[cid] = until
	}
	all := p.until()
	h.mu.Unlock()
	h.broadcast(SystemEvent{Type: SystemEventDeferred, Kind: kind, Deadline: all.UTC()})
	return true
}

// resumeUpdate ends app cid's deferral of the pending update of kind; false if it has none
// that still holds. When no other app's deferral holds the update, Resumed is signalled.
func (h *Host) resumeUpdate(cid, kind string) bool {
	h.mu.Lock()
	p := h.pending[kind]
	now := h.now()
	if p == nil || !p.deferrals[cid].After(now) {
		h.mu.Unlock()
		return false
	}
	delete(p.deferrals, cid)
	free := !p.until().After(now)
	h.mu.Unlock()
	if free {
		select {
		case h.resumed <- struct{}{}:
		default: // already signalled
		}
	}
	return true
}

// pendingEvents returns the system events an app installed now should see.
func (h *Host) pendingEvents() []SystemEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []SystemEvent
	for _, kind := range []string{UpdateRuntime, UpdateApplication} {
		if p := h.pending[kind]; p != nil {
			out = append(out, SystemEvent{Type: SystemEventPending, Kind: kind, Deadline: p.deadline.UTC()})
		}
	}
	return out
}
