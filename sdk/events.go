package sdk

import (
	"encoding/json"
	"time"
)

// Events is the queue of system events for the app: updates about to be installed. It needs
// the SystemEventNotifications capability.
var Events EventQueue

// EventQueue is the type of [Events].
type EventQueue struct{}

// Event is a system event.
type Event struct {
	Type     string    `json:"type"`     // one of the Event… types
	Kind     string    `json:"kind"`     // UpdateApplication or UpdateRuntime
	Deadline time.Time `json:"deadline"` // pending: when the update will be installed unless deferred; deferred: until when
}

// Event types: the life of one update.
const (
	EventUpdatePending  = "update_pending"  // it will be installed at Deadline unless deferred
	EventUpdateDeferred = "update_deferred" // an app deferred it, until Deadline
	EventUpdateFinal    = "update_final"    // it is being installed now
	EventUpdateComplete = "update_complete" // an application update was installed
)

// Update kinds, for [Event.Kind] and [DeferUpdate].
const (
	UpdateApplication = "application"
	UpdateRuntime     = "runtime"
)

// Next returns the oldest pending event and true, or false when there is none. It does not
// wait.
func (EventQueue) Next() (Event, bool, error) {
	buf := make([]byte, 1024)
	n, err := check(hostEventsNext(bytesPtr(buf), uint32(len(buf))))
	if err != nil || n == 0 {
		return Event{}, false, err
	}
	var e Event
	if err := json.Unmarshal(buf[:n], &e); err != nil {
		return Event{}, false, err
	}
	return e, true, nil
}

// Longest deferrals, as Azure Sphere allows them.
const (
	MaxDeferApplication = 167 * time.Hour
	MaxDeferRuntime     = 24 * time.Hour
)

// DeferUpdate asks the device to hold a pending update of kind (UpdateApplication or
// UpdateRuntime) for d, rounded up to whole minutes: at most [MaxDeferApplication] or
// [MaxDeferRuntime] after the update was first announced, however often it is asked. It needs
// the SoftwareUpdateDeferral capability and returns [ErrNotFound] when no such update is
// pending.
func DeferUpdate(kind string, d time.Duration) error {
	k, ok := updateKind(kind)
	if !ok {
		return ErrInvalid
	}
	minutes := (d + time.Minute - 1) / time.Minute
	if minutes <= 0 || minutes > MaxDeferApplication/time.Minute {
		return ErrInvalid
	}
	_, err := check(hostUpdateDefer(k, int32(minutes)))
	return err
}

// ResumeUpdate ends the app's own deferral of the pending update of kind, which then goes
// ahead at once unless another app's deferral holds it. It needs the SoftwareUpdateDeferral
// capability and returns [ErrNotFound] when the app holds no deferral of that kind.
func ResumeUpdate(kind string) error {
	k, ok := updateKind(kind)
	if !ok {
		return ErrInvalid
	}
	_, err := check(hostUpdateResume(k))
	return err
}

func updateKind(kind string) (int32, bool) {
	switch kind {
	case UpdateApplication:
		return 1, true
	case UpdateRuntime:
		return 2, true
	}
	return 0, false
}
