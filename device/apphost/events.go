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
)

// Kinds of update, for NotifyUpdatePending and Deferred.
const (
	UpdateApplication = "application"
	UpdateRuntime     = "runtime"
)

// SystemEvent is what events_next gives an app, as JSON.
type SystemEvent struct {
	Type     string    `json:"type"` // "update_pending"
	Kind     string    `json:"kind"` // UpdateApplication or UpdateRuntime
	Deadline time.Time `json:"deadline"`
}

// pendingUpdate is an update the update client announced.
type pendingUpdate struct {
	since    time.Time // first announced: deferrals count from here
	deadline time.Time
	deferred time.Time // until when apps deferred it
}

func maxDefer(kind string) time.Duration {
	if kind == UpdateRuntime {
		return MaxDeferRuntime
	}
	return MaxDeferApplication
}

// NotifyUpdatePending tells apps with SystemEventNotifications that an update of kind
// (UpdateApplication or UpdateRuntime) will be installed at deadline unless deferred. A zero
// deadline says it is no longer pending (installed or withdrawn) and forgets its deferrals.
func (h *Host) NotifyUpdatePending(kind string, deadline time.Time) {
	h.mu.Lock()
	if deadline.IsZero() {
		delete(h.pending, kind)
		h.mu.Unlock()
		return
	}
	p := h.pending[kind]
	if p == nil {
		p = &pendingUpdate{since: h.now()}
		h.pending[kind] = p
	}
	p.deadline = deadline
	apps := make([]*app, 0, len(h.apps))
	for _, a := range h.apps {
		apps = append(apps, a)
	}
	h.mu.Unlock()
	ev := SystemEvent{Type: "update_pending", Kind: kind, Deadline: deadline.UTC()}
	for _, a := range apps {
		a.queueEvent(ev)
	}
}

// Deferred returns until when apps have deferred the pending update of kind, or the zero time
// if they have not (or none is pending). It is never more than MaxDeferApplication or
// MaxDeferRuntime after the update was first announced.
func (h *Host) Deferred(kind string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.pending[kind]; p != nil {
		return p.deferred
	}
	return time.Time{}
}

// deferUpdate records an app's deferral of the pending update of kind by d; false if none is
// pending.
func (h *Host) deferUpdate(kind string, d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[kind]
	if p == nil {
		return false
	}
	until := h.now().Add(d)
	if limit := p.since.Add(maxDefer(kind)); until.After(limit) {
		until = limit
	}
	if until.After(p.deferred) {
		p.deferred = until
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
			out = append(out, SystemEvent{Type: "update_pending", Kind: kind, Deadline: p.deadline.UTC()})
		}
	}
	return out
}
