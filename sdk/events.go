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
	Type     string    `json:"type"`     // EventUpdatePending
	Kind     string    `json:"kind"`     // UpdateApplication or UpdateRuntime
	Deadline time.Time `json:"deadline"` // when the update will be installed unless deferred
}

// Event types.
const EventUpdatePending = "update_pending"

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
	var k int32
	switch kind {
	case UpdateApplication:
		k = 1
	case UpdateRuntime:
		k = 2
	default:
		return ErrInvalid
	}
	minutes := (d + time.Minute - 1) / time.Minute
	if minutes <= 0 || minutes > MaxDeferApplication/time.Minute {
		return ErrInvalid
	}
	_, err := check(hostUpdateDefer(k, int32(minutes)))
	return err
}
