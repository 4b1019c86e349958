package api

import "time"

// DevicePathEvents takes a device's error events (POST, mutual TLS): an EventBatch.
const DevicePathEvents = "/device/v1/events"

// Event categories, Azure Sphere's where it has one.
const (
	EventAppCrash          = "AppCrash"
	EventAppExit           = "AppExit"
	EventUpdateFailed      = "UpdateFailed"
	EventAttestationFailed = "AttestationFailed"
	EventBootFailure       = "BootFailure"
	EventSlotRollback      = "SlotRollback"
	EventRuntimeRestart    = "RuntimeRestart"
	// EventsDropped is recorded by the service, never sent as an event: it counts the events a
	// device's queue dropped (EventBatch.Dropped) and those the service folded away beyond its
	// daily cap per device with no earlier event of their signature to count them in.
	EventsDropped = "EventsDropped"
)

// Event classes and types.
const (
	ClassOS  = "os"
	ClassApp = "app"

	TypePlanned   = "planned"
	TypeUnplanned = "unplanned"
)

// Limits of what a device sends.
const (
	MaxEventsPerBatch    = 100
	MaxEventBatchSize    = 256 << 10
	MaxEventDescription  = 1 << 10
	MaxEventDetail       = 16 << 10
	MaxEventAge          = 30 * 24 * time.Hour // older events are refused
	MaxEventClockSkew    = 10 * time.Minute    // events this far in the future are refused
	MaxEventCount        = 1_000_000           // repeats one event may fold
	MaxEventsDropped     = 1 << 30             // the largest EventBatch.Dropped accepted
	DefaultEventLifetime = 14 * 24 * time.Hour // retention
)

// DeviceEvent is one error event as a device reports it. The device ID is never in the body: it
// is the device certificate's.
type DeviceEvent struct {
	// ID is chosen by the device (a UUID) and stays the same when a batch is sent again, so an
	// event is stored once however often it is uploaded.
	ID          string    `json:"id"`
	Category    string    `json:"category"`
	Class       string    `json:"class"`
	Type        string    `json:"type"`
	Description string    `json:"description"` // exit code, signal, trap or panic line
	ComponentID string    `json:"component_id,omitempty"`
	ImageID     string    `json:"image_id,omitempty"`
	Count       int       `json:"count"` // repeats folded on the device, at least 1
	FirstAt     time.Time `json:"first_at"`
	LastAt      time.Time `json:"last_at"`
	// Detail is the crash detail (a WebAssembly stack trace); a device sends it only when its
	// group allows crash dumps.
	Detail string `json:"detail,omitempty"`
}

// EventBatch is the body of POST /device/v1/events.
type EventBatch struct {
	Events []DeviceEvent `json:"events"`
	// Dropped counts events the device's bounded queue dropped (oldest first) since its last
	// accepted batch.
	Dropped int64 `json:"dropped,omitempty"`
}

// EventBatchResponse answers an accepted batch.
type EventBatchResponse struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// AllowCrashDumps says whether the device's group wants crash detail.
	AllowCrashDumps bool `json:"allow_crash_dumps"`
}

// ErrorEvent is a stored event, as `rampart report errors` lists it.
type ErrorEvent struct {
	DeviceID    string    `json:"device_id"`
	Product     string    `json:"product,omitempty"`
	DeviceGroup string    `json:"device_group,omitempty"` // Product/Group
	Category    string    `json:"event_category"`
	Class       string    `json:"event_class"`
	Type        string    `json:"event_type"`
	Count       int       `json:"event_count"`
	Description string    `json:"description"`
	ComponentID string    `json:"component_id,omitempty"`
	ImageID     string    `json:"image_id,omitempty"`
	FirstAt     time.Time `json:"start_time"`
	LastAt      time.Time `json:"end_time"`
	Detail      string    `json:"detail,omitempty"`
	Signature   string    `json:"signature"`
}

// ErrorEventList is one page of GET /api/v1/reports/errors, newest first. NextPageToken is
// empty on the last page.
type ErrorEventList struct {
	Events        []ErrorEvent `json:"events"`
	NextPageToken string       `json:"next_page_token,omitempty"`
}

// ErrorSummaryList answers GET /api/v1/reports/summary: the most frequent signatures first.
type ErrorSummaryList struct {
	Summary []ErrorSummary `json:"summary"`
}

// ErrorSummary is one line of `rampart report summary`: every event of one signature (category,
// component, normalised description), with counts.
type ErrorSummary struct {
	Signature   string    `json:"signature"`
	Category    string    `json:"event_category"`
	ComponentID string    `json:"component_id,omitempty"`
	Description string    `json:"description"`
	Events      int       `json:"events"`
	Devices     int       `json:"devices"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
}
