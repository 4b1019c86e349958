package api

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/ident"
)

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
	// EventAppStorage: a file of an app's storage did not authenticate and was removed (class
	// app, the app's component), or every app's storage was reset because the runtime's
	// storage key changed (class os).
	EventAppStorage = "AppStorage"
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
	ID          string            `json:"id"`
	Category    string            `json:"category"`
	Class       string            `json:"class"`
	Type        string            `json:"type"`
	Description string            `json:"description"` // exit code, signal, trap or panic line
	ComponentID ident.ComponentID `json:"component_id,omitempty"`
	ImageID     ident.ImageID     `json:"image_id,omitempty"`
	Count       int               `json:"count"` // repeats folded on the device, at least 1
	FirstAt     time.Time         `json:"first_at"`
	LastAt      time.Time         `json:"last_at"`
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
	DeviceID    string            `json:"device_id"`
	Product     string            `json:"product,omitempty"`
	DeviceGroup string            `json:"device_group,omitempty"` // Product/Group
	Category    string            `json:"event_category"`
	Class       string            `json:"event_class"`
	Type        string            `json:"event_type"`
	Count       int               `json:"event_count"`
	Description string            `json:"description"`
	ComponentID ident.ComponentID `json:"component_id,omitempty"`
	ImageID     ident.ImageID     `json:"image_id,omitempty"`
	FirstAt     time.Time         `json:"start_time"`
	LastAt      time.Time         `json:"end_time"`
	Detail      string            `json:"detail,omitempty"`
	Signature   string            `json:"signature"`
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

// FleetSummary is the body of GET /api/v1/reports/fleet: the tenant's devices counted by group,
// last attestation and runtime.
type FleetSummary struct {
	Counts []FleetCount `json:"counts"`
}

// FleetCount is how many of the tenant's devices share a device group, a last attestation
// result and reason ("" for never attested) and a runtime. RuntimeVersions are the published
// releases whose SHA-512 the runtime has (empty for a runtime no release names).
type FleetCount struct {
	GroupID         ident.GroupID `json:"device_group_id,omitempty"`
	GroupName       string        `json:"device_group_name,omitempty"`
	ProductName     string        `json:"product_name,omitempty"`
	AttestResult    string        `json:"last_attest_result"`
	AttestReason    string        `json:"last_attest_reason"`
	RuntimeSHA512   string        `json:"runtime_sha512"`
	RuntimeVersions []string      `json:"runtime_versions"`
	Devices         int           `json:"devices"`
}

// MaxFleetCounts bounds the rows of a FleetSummary; the largest counts come first.
const MaxFleetCounts = 10000

// ErrorSummary is one line of `rampart report summary`: every event of one signature (category,
// component, normalised description), with counts.
type ErrorSummary struct {
	Signature   string            `json:"signature"`
	Category    string            `json:"event_category"`
	ComponentID ident.ComponentID `json:"component_id,omitempty"`
	Description string            `json:"description"`
	Events      int               `json:"events"`
	Devices     int               `json:"devices"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
}

// Check validates an event that a device sent, received at now: what the service refuses, the
// error naming the field. The service's report.Check and the device's test double both apply
// it, so that the two cannot disagree on what is a valid event.
func (e *DeviceEvent) Check(now time.Time) error {
	switch {
	case !ident.IsID(e.ID):
		return fmt.Errorf("id: want a lowercase UUID, got %q", clipField(e.ID))
	case !oneOf(e.Category, EventAppCrash, EventAppExit, EventUpdateFailed, EventAttestationFailed,
		EventBootFailure, EventSlotRollback, EventRuntimeRestart, EventAppStorage):
		return fmt.Errorf("category: unknown category %q", clipField(e.Category))
	case !oneOf(e.Class, ClassOS, ClassApp):
		return fmt.Errorf("class: want %s or %s, got %q", ClassOS, ClassApp, clipField(e.Class))
	case !oneOf(e.Type, TypePlanned, TypeUnplanned):
		return fmt.Errorf("type: want %s or %s, got %q", TypePlanned, TypeUnplanned, clipField(e.Type))
	case len(e.Description) > MaxEventDescription:
		return fmt.Errorf("description: %d bytes, the limit is %d", len(e.Description), MaxEventDescription)
	case len(e.Detail) > MaxEventDetail:
		return fmt.Errorf("detail: %d bytes, the limit is %d", len(e.Detail), MaxEventDetail)
	case e.ComponentID != "" && !ident.IsID(e.ComponentID):
		return fmt.Errorf("component_id: want a lowercase UUID, got %q", clipField(e.ComponentID))
	case e.ImageID != "" && !ident.IsID(e.ImageID):
		return fmt.Errorf("image_id: want a lowercase UUID, got %q", clipField(e.ImageID))
	case e.Count < 1 || e.Count > MaxEventCount:
		return fmt.Errorf("count: want 1 to %d, got %d", MaxEventCount, e.Count)
	case e.FirstAt.IsZero() || e.LastAt.IsZero():
		return errors.New("first_at and last_at: both are required")
	case e.FirstAt.After(e.LastAt):
		return errors.New("first_at: later than last_at")
	case e.LastAt.After(now.Add(MaxEventClockSkew)):
		return fmt.Errorf("last_at: %s is in the future (the service's time is %s); check the device's clock",
			e.LastAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case e.FirstAt.Before(now.Add(-MaxEventAge)):
		return fmt.Errorf("first_at: %s is older than %s", e.FirstAt.UTC().Format(time.RFC3339), MaxEventAge)
	}
	return nil
}

func oneOf(s string, values ...string) bool {
	for _, v := range values {
		if s == v {
			return true
		}
	}
	return false
}

// clipField cuts a refused value to 70 bytes for an error message, its control and format
// characters replaced.
func clipField[T ~string](v T) string {
	s := string(v)
	if len(s) > 70 {
		s = s[:70] + "…"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf):
			return utf8.RuneError
		}
		return r
	}, s)
}
