package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
)

func event(desc string, count int, at time.Time) api.DeviceEvent {
	return api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppExit, Class: api.ClassApp, Type: api.TypeUnplanned,
		Description: desc, Count: count, FirstAt: at.Add(-time.Minute), LastAt: at}
}

func addEvents(t *testing.T, s *store.Store, u report.Batch) report.Added {
	t.Helper()
	var res report.Added
	update(t, s, func(tx *store.Tx) error {
		var err error
		res, err = report.Add(tx, u)
		return err
	})
	return res
}

func listEvents(t *testing.T, s *store.Store, tenantID ident.TenantID, f store.EventFilter) []store.ListedEvent {
	t.Helper()
	var es []store.ListedEvent
	view(t, s, func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(tenantID, f)
		return err
	})
	return es
}

// TestEventsCountedPerDay: the store counts a device's stored events per UTC day.
func TestEventsCountedPerDay(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		dev := deviceID(1)
		at := now.UTC()
		update(t, s, func(tx *store.Tx) error {
			for _, n := range []int{3, 4, 0} {
				if err := tx.CountEventsStored(dev, at, n); err != nil {
					return err
				}
			}
			if n, err := tx.EventsStoredOn(dev, at); err != nil || n != 7 {
				t.Errorf("EventsStoredOn today: %d, %v; want 7", n, err)
			}
			if n, err := tx.EventsStoredOn(dev, at.Add(24*time.Hour)); err != nil || n != 0 {
				t.Errorf("EventsStoredOn tomorrow: %d, %v; want 0", n, err)
			}
			return nil
		})
	})
}

// TestEventPrimitives: the store inserts an event once per device and event ID and folds counts
// into the newest event of a signature within the window it is given. (The policy over them is
// server/report's Add, and tested there.)
func TestEventPrimitives(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		dev := deviceID(1)
		claim(t, s, tn.ID, dev)
		at := now.UTC().Truncate(time.Microsecond)
		old, recent := report.Prepare(event("exit code 1", 1, at.Add(-2*time.Hour))), report.Prepare(event("exit code 2", 1, at))
		update(t, s, func(tx *store.Tx) error {
			d, err := tx.EventDevice(tn.ID, dev)
			if err != nil || d.GroupID != "" || d.AllowCrashDumps || !d.GroupSince.Equal(at) {
				t.Errorf("EventDevice: %+v, %v; want no group, claimed at %v", d, err, at)
			}
			if _, err := tx.EventDevice(ident.TenantID(ident.NewID()), dev); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("EventDevice of another tenant's device: %v, want ErrNotFound", err)
			}
			n, err := tx.InsertEvents(tn.ID, dev, "", []store.Event{old, recent}, at)
			if err != nil || n != 2 {
				t.Errorf("InsertEvents: %d, %v; want 2", n, err)
			}
			if n, err := tx.InsertEvents(tn.ID, dev, "", []store.Event{recent}, at); err != nil || n != 0 {
				t.Errorf("InsertEvents again: %d, %v; want 0", n, err)
			}
			ids, err := tx.StoredEventIDs(dev, []string{old.ID, ident.NewID()})
			if err != nil || len(ids) != 1 || !ids[old.ID] {
				t.Errorf("StoredEventIDs: %v, %v; want only %s", ids, err, old.ID)
			}
			// Both share a signature: the newest one takes the count, if it is recent enough.
			if ok, err := tx.FoldEvent(dev, old.Signature, 5, at, at.Add(-time.Hour)); err != nil || !ok {
				t.Errorf("FoldEvent: %v, %v; want folded", ok, err)
			}
			if ok, err := tx.FoldEvent(dev, old.Signature, 5, at, at.Add(time.Hour)); err != nil || ok {
				t.Errorf("FoldEvent with nothing recent enough: %v, %v; want not folded", ok, err)
			}
			return nil
		})
		counts := map[string]int{}
		for _, e := range listEvents(t, s, tn.ID, store.EventFilter{}) {
			counts[e.Description] = e.Count
		}
		if counts[recent.Description] != 6 || counts[old.Description] != 1 {
			t.Errorf("counts %v, want 6 for the newest, 1 for the older", counts)
		}
	})
}

func TestEventSummaryGroupsBySignature(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		claim(t, s, tn.ID, deviceID(1), deviceID(2))
		at := now.UTC().Truncate(time.Microsecond)
		comp := ident.ComponentID(ident.NewID())
		withComp := func(e api.DeviceEvent) api.DeviceEvent { e.ComponentID = comp; return e }
		addEvents(t, s, report.Upload(tn.ID, deviceID(1), api.EventBatch{Events: []api.DeviceEvent{
			withComp(event("exit code 2", 3, at)), withComp(event("exit code 3", 2, at)), event("exit code 2", 1, at)}}, at))
		addEvents(t, s, report.Upload(tn.ID, deviceID(2), api.EventBatch{Events: []api.DeviceEvent{
			withComp(event("Exit code 9", 1, at))}}, at))
		var sum []api.ErrorSummary
		view(t, s, func(tx *store.Tx) error {
			var err error
			sum, err = tx.EventSummary(tn.ID, time.Time{}, "", 0)
			return err
		})
		if len(sum) != 2 {
			t.Fatalf("summary %+v, want 2 signatures", sum)
		}
		top := sum[0]
		if top.ComponentID != ident.ComponentID(comp) || top.Description != "exit code N" || top.Events != 6 || top.Devices != 2 ||
			top.Signature != report.Signature(api.EventAppExit, string(comp), "exit code 1") {
			t.Errorf("most frequent: %+v, want exit code N of %s, 6 events on 2 devices", top, comp)
		}
		if sum[1].ComponentID != "" || sum[1].Events != 1 || sum[1].Devices != 1 {
			t.Errorf("second: %+v", sum[1])
		}
	})
}

func TestEventsPagedNewestFirst(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		claim(t, s, tn.ID, deviceID(1))
		at := now.UTC().Truncate(time.Microsecond)
		var b api.EventBatch
		for i := range 5 {
			b.Events = append(b.Events, event("exit code 1", 1, at.Add(-time.Duration(i%3)*time.Hour)))
		}
		addEvents(t, s, report.Upload(tn.ID, deviceID(1), b, at))
		var seen []store.ListedEvent
		f := store.EventFilter{Limit: 2}
		for range 4 {
			page := listEvents(t, s, tn.ID, f)
			seen = append(seen, page...)
			if len(page) < 2 {
				break
			}
			f.Before = page[len(page)-1].Cursor
		}
		if len(seen) != 5 {
			t.Fatalf("%d events over the pages, want 5", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].LastAt.After(seen[i-1].LastAt) || seen[i].Cursor == seen[i-1].Cursor {
				t.Errorf("event %d out of order: %v after %v", i, seen[i].Cursor, seen[i-1].Cursor)
			}
		}
		if es := listEvents(t, s, tn.ID, store.EventFilter{Since: at.Add(-90 * time.Minute)}); len(es) != 4 {
			t.Errorf("since 90 minutes ago: %d events, want 4", len(es))
		}
	})
}
