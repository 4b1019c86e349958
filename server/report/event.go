package report

import (
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// DailyCap is how many events of one device the store keeps one by one per UTC day; beyond it
// they are folded (see the package documentation).
const DailyCap = 10_000

// droppedDescription describes the EventsDropped event.
const droppedDescription = "events dropped: the device's queue was full or the service's daily cap was reached"

// Check validates an event a device sent, received at now ([api.DeviceEvent.Check]), and makes
// its text safe in place. In the description, tab, CR and LF become a space and every other
// character [safetext.Unsafe] names (terminal escapes, bidirectional overrides, zero-width
// characters, invalid UTF-8) is escaped ("\x1b", "\u202e") rather than refused, so that a panic
// line with a newline in it is still reported; the detail keeps tab and LF. Lengths are checked
// before escaping, in bytes, and bounded again after. The error names the field.
func Check(e *api.DeviceEvent, now time.Time) error {
	if err := e.Check(now); err != nil {
		return err
	}
	e.Description = clean(e.Description, false)
	e.Detail = clean(e.Detail, true)
	e.FirstAt = e.FirstAt.UTC().Truncate(time.Microsecond)
	e.LastAt = e.LastAt.UTC().Truncate(time.Microsecond)
	return nil
}

// clean makes a device's text safe to show with [safetext]: escaped, not refused, so that a
// report keeps what the device said. Multiline keeps tab and LF; otherwise tab, CR and LF become
// spaces first, so that a panic message with a line break in it reads as one line.
func clean(s string, multiline bool) string {
	if multiline {
		return safetext.Block(s, api.MaxEventDetail)
	}
	return safetext.Line(strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s), api.MaxEventDescription)
}

func clip(s string) string { return safetext.Line(s, 70) }

// Prepare returns a checked event ready to store, with its signature.
func Prepare(e api.DeviceEvent) store.Event {
	return store.Event{DeviceEvent: e, Pattern: Normalize(e.Description),
		Signature: Signature(e.Category, string(e.ComponentID), e.Description)}
}

// Upload returns a device's checked batch, received at now, ready for [Add].
func Upload(tenantID ident.TenantID, device ident.DeviceID, b api.EventBatch, now time.Time) Batch {
	u := Batch{TenantID: tenantID, DeviceID: device, Dropped: b.Dropped, At: now, DailyCap: DailyCap,
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
func AttestationFailure(a store.Attestation) Batch {
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
