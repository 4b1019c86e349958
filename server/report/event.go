package report

import (
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

// Check validates an event a device sent, received at now ([api.DeviceEvent.Check]), and
// cleans its text in place. In
// the description, control and format characters (Unicode Cc and Cf: bidirectional overrides
// among them) are replaced, tab, CR and LF by a space and the others by U+FFFD, rather than
// refused, so that a panic line with a newline in it is still reported; the detail keeps tab
// and LF. Lengths are checked before replacing, in bytes. The error names the field.
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
// "reason: message".
func AttestationFailure(a store.Attestation) store.EventUpload {
	desc := a.Reason + ": " + a.Message
	if len(desc) > api.MaxEventDescription {
		desc = strings.ToValidUTF8(desc[:api.MaxEventDescription], "")
	}
	at := a.At.UTC().Truncate(time.Microsecond)
	u := Upload(a.TenantID, a.DeviceID, api.EventBatch{}, at)
	u.Events = []store.Event{Prepare(api.DeviceEvent{ID: ident.NewID(), Category: api.EventAttestationFailed,
		Class: api.ClassOS, Type: api.TypeUnplanned, Description: clean(desc, false), Count: 1, FirstAt: at, LastAt: at})}
	return u
}
