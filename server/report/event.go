package report

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// DailyCap is how many events of one device the store keeps one by one per UTC day; beyond it
// they are folded (see the package documentation).
const DailyCap = 10_000

// droppedDescription describes the EventsDropped event.
const droppedDescription = "events dropped: the device's queue was full or the service's daily cap was reached"

// Check validates an event a device sent, received at now, and cleans its text in place. In
// the description, control and format characters (Unicode Cc and Cf: bidirectional overrides
// among them) are replaced, tab, CR and LF by a space and the others by U+FFFD, rather than
// refused, so that a panic line with a newline in it is still reported; the detail keeps tab
// and LF. Lengths are checked before replacing, in bytes. The error names the field.
func Check(e *api.DeviceEvent, now time.Time) error {
	switch {
	case !ident.IsID(e.ID):
		return fmt.Errorf("id: want a lowercase UUID, got %q", clip(e.ID))
	case !oneOf(e.Category, api.EventAppCrash, api.EventAppExit, api.EventUpdateFailed, api.EventAttestationFailed,
		api.EventBootFailure, api.EventSlotRollback, api.EventRuntimeRestart):
		return fmt.Errorf("category: unknown category %q", clip(e.Category))
	case !oneOf(e.Class, api.ClassOS, api.ClassApp):
		return fmt.Errorf("class: want %s or %s, got %q", api.ClassOS, api.ClassApp, clip(e.Class))
	case !oneOf(e.Type, api.TypePlanned, api.TypeUnplanned):
		return fmt.Errorf("type: want %s or %s, got %q", api.TypePlanned, api.TypeUnplanned, clip(e.Type))
	case len(e.Description) > api.MaxEventDescription:
		return fmt.Errorf("description: %d bytes, the limit is %d", len(e.Description), api.MaxEventDescription)
	case len(e.Detail) > api.MaxEventDetail:
		return fmt.Errorf("detail: %d bytes, the limit is %d", len(e.Detail), api.MaxEventDetail)
	case e.ComponentID != "" && !ident.IsID(e.ComponentID):
		return fmt.Errorf("component_id: want a lowercase UUID, got %q", clip(e.ComponentID))
	case e.ImageID != "" && !ident.IsID(e.ImageID):
		return fmt.Errorf("image_id: want a lowercase UUID, got %q", clip(e.ImageID))
	case e.Count < 1 || e.Count > api.MaxEventCount:
		return fmt.Errorf("count: want 1 to %d, got %d", api.MaxEventCount, e.Count)
	case e.FirstAt.IsZero() || e.LastAt.IsZero():
		return errors.New("first_at and last_at: both are required")
	case e.FirstAt.After(e.LastAt):
		return errors.New("first_at: later than last_at")
	case e.LastAt.After(now.Add(api.MaxEventClockSkew)):
		return fmt.Errorf("last_at: %s is in the future (the service's time is %s); check the device's clock",
			e.LastAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case e.FirstAt.Before(now.Add(-api.MaxEventAge)):
		return fmt.Errorf("first_at: %s is older than %s", e.FirstAt.UTC().Format(time.RFC3339), api.MaxEventAge)
	}
	e.Description = clean(e.Description, false)
	e.Detail = clean(e.Detail, true)
	e.FirstAt = e.FirstAt.UTC().Truncate(time.Microsecond)
	e.LastAt = e.LastAt.UTC().Truncate(time.Microsecond)
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

// clean replaces control and format characters (and invalid UTF-8); multiline keeps tab and LF.
func clean(s string, multiline bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case multiline && (r == '\t' || r == '\n'):
			return r
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r == utf8.RuneError || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
			return utf8.RuneError
		}
		return r
	}, s)
}

func clip(s string) string {
	if len(s) > 70 {
		s = s[:70] + "…"
	}
	return clean(s, false)
}

// Prepare returns a checked event ready to store, with its signature.
func Prepare(e api.DeviceEvent) store.Event {
	return store.Event{DeviceEvent: e, Pattern: Normalize(e.Description),
		Signature: Signature(e.Category, e.ComponentID, e.Description)}
}

// Upload returns a device's checked batch, received at now, ready for store.AddEvents.
func Upload(tenantID string, device ident.DeviceID, b api.EventBatch, now time.Time) store.EventUpload {
	u := store.EventUpload{TenantID: tenantID, DeviceID: device, Dropped: b.Dropped, At: now, DailyCap: DailyCap,
		Lost: Prepare(api.DeviceEvent{ID: ident.NewID(), Category: api.EventsDropped, Class: api.ClassOS,
			Type: api.TypeUnplanned, Description: droppedDescription})}
	for _, e := range b.Events {
		u.Events = append(u.Events, Prepare(e))
	}
	return u
}

// AttestationFailure returns, for a failed attestation of a claimed device, the event that
// reports it: category AttestationFailed, class os, type unplanned, described as
// "reason: message". Its ID is api.AttestationFailureEventID of the nonce the evidence carried,
// which the device gives the same failure when it reports it, so the two count once.
func AttestationFailure(a store.Attestation) store.EventUpload {
	desc := a.Reason + ": " + a.Message
	if len(desc) > api.MaxEventDescription {
		desc = strings.ToValidUTF8(desc[:api.MaxEventDescription], "")
	}
	at := a.At.UTC().Truncate(time.Microsecond)
	u := Upload(a.TenantID, a.DeviceID, api.EventBatch{}, at)
	id := ident.NewID()
	if len(a.Nonce) > 0 {
		id = api.AttestationFailureEventID(a.Nonce) // the device's report of it has this ID too
	}
	u.Events = []store.Event{Prepare(api.DeviceEvent{ID: id, Category: api.EventAttestationFailed,
		Class: api.ClassOS, Type: api.TypeUnplanned, Description: clean(desc, false), Count: 1, FirstAt: at, LastAt: at})}
	return u
}
