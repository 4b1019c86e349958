package report

import (
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Batch is one batch of a device's events, ready for [Add].
type Batch struct {
	TenantID ident.TenantID
	DeviceID ident.DeviceID
	Events   []store.Event
	// Dropped counts events the device reports it dropped. It is added to Lost's count, unless
	// every event of a non-empty batch is a duplicate: the batch was sent before, and its dropped
	// count with it.
	Dropped int64
	// Lost stands for the events not stored one by one: the dropped ones, and those beyond
	// DailyCap that have no event of their signature from the last day to be counted in. Its
	// count and times are set by Add; it is folded into the device's newest event of its
	// signature from the last day, or stored if there is none.
	Lost     store.Event
	At       time.Time // when the batch arrived
	DailyCap int       // events stored one by one per device and UTC day; beyond it, folded
}

// Added is what [Add] did with a batch.
type Added struct {
	Accepted   int // stored or folded into an earlier event
	Folded     int // of Accepted, those beyond the daily cap
	Duplicates int // stored before, or twice in the batch
	// AllowCrashDumps is the device's group's setting; without it every Detail was dropped.
	AllowCrashDumps bool
}

// joinSkew is how much earlier than a device's claim or group join its clock may date an
// event that still counts for its group.
const joinSkew = time.Minute

// foldWindow is how far back a folded event looks for an event of its signature.
const foldWindow = 24 * time.Hour

// Add stores a batch of a tenant's device's events in tx (store.ErrNotFound if the tenant has
// no such device), each under its device and event ID once: an event stored before is counted
// as a duplicate. Detail is kept only if the device's group allows crash dumps. Beyond
// b.DailyCap events stored today, an event is folded instead: its count is added to the newest
// event of its signature from the last day. Its writes are O(len(b.Events)).
func Add(tx *store.Tx, b Batch) (Added, error) {
	var res Added
	at := b.At.UTC().Truncate(time.Microsecond)
	dev, err := tx.EventDevice(b.TenantID, b.DeviceID)
	if err != nil {
		return res, err
	}
	res.AllowCrashDumps = dev.AllowCrashDumps
	fresh, err := freshEvents(tx, b, dev.AllowCrashDumps, &res)
	if err != nil {
		return res, err
	}
	today, err := tx.EventsStoredOn(b.DeviceID, at)
	if err != nil {
		return res, err
	}
	room := min(max(b.DailyCap-today, 0), len(fresh))
	insert, fold := fresh[:room], fresh[room:]

	// Events that ended before the device was claimed or joined its group are not charged
	// to the group it is in now (one that recurs across the join is). The device's clock is
	// given joinSkew of slack.
	grouped, ungrouped := splitBefore(insert, dev.GroupSince.Add(-joinSkew))
	inserted, err := tx.InsertEvents(b.TenantID, b.DeviceID, dev.GroupID, grouped, at)
	if err != nil {
		return res, err
	}
	n, err := tx.InsertEvents(b.TenantID, b.DeviceID, "", ungrouped, at)
	if err != nil {
		return res, err
	}
	inserted += n
	res.Accepted += inserted
	res.Duplicates += len(insert) - inserted // sent concurrently by another request

	lost := int64(0)
	if b.Dropped > 0 && (len(b.Events) == 0 || len(fresh) > 0) {
		lost = b.Dropped
	}
	for _, e := range fold {
		ok, err := tx.FoldEvent(b.DeviceID, e.Signature, int64(e.Count), e.LastAt, at.Add(-foldWindow))
		if err != nil {
			return res, err
		}
		if !ok {
			lost += int64(e.Count)
		}
		res.Accepted++
		res.Folded++
	}
	n, err = addLost(tx, b, dev.GroupID, lost, at)
	if err != nil {
		return res, err
	}
	return res, tx.CountEventsStored(b.DeviceID, at, inserted+n)
}

// freshEvents returns b's events less the duplicates within the batch and those stored before,
// counting them in res; without allowCrashDumps, their Detail is dropped.
func freshEvents(tx *store.Tx, b Batch, allowCrashDumps bool, res *Added) ([]store.Event, error) {
	fresh := make([]store.Event, 0, len(b.Events))
	seen := make(map[string]bool, len(b.Events))
	var ids []string
	for _, e := range b.Events {
		if seen[e.ID] {
			res.Duplicates++
			continue
		}
		seen[e.ID] = true
		if !allowCrashDumps {
			e.Detail = ""
		}
		fresh = append(fresh, e)
		ids = append(ids, e.ID)
	}
	old, err := tx.StoredEventIDs(b.DeviceID, ids)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, e := range fresh {
		if old[e.ID] {
			res.Duplicates++
		} else {
			fresh[n] = e
			n++
		}
	}
	return fresh[:n], nil
}

// addLost counts lost events in b.Lost's signature: folded into the device's newest such event
// from the last day, or stored as a new one. It returns how many events it stored (0 or 1).
func addLost(tx *store.Tx, b Batch, groupID ident.GroupID, lost int64, at time.Time) (int, error) {
	if lost <= 0 {
		return 0, nil
	}
	ok, err := tx.FoldEvent(b.DeviceID, b.Lost.Signature, lost, at, at.Add(-foldWindow))
	if err != nil || ok {
		return 0, err
	}
	l := b.Lost
	l.Count, l.FirstAt, l.LastAt = int(min(lost, 1<<53)), at, at
	return tx.InsertEvents(b.TenantID, b.DeviceID, groupID, []store.Event{l}, at)
}

// splitBefore splits events into those that ended at or after t and those that ended before.
func splitBefore(es []store.Event, t time.Time) (after, before []store.Event) {
	for _, e := range es {
		if e.LastAt.Before(t) {
			before = append(before, e)
		} else {
			after = append(after, e)
		}
	}
	return after, before
}
