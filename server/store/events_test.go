package store_test

import (
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

func addEvents(t *testing.T, s *store.Store, u store.EventUpload) store.EventsAdded {
	t.Helper()
	var res store.EventsAdded
	update(t, s, func(tx *store.Tx) error {
		var err error
		res, err = tx.AddEvents(u)
		return err
	})
	return res
}

func listEvents(t *testing.T, s *store.Store, tenantID string, f store.EventFilter) []store.ListedEvent {
	t.Helper()
	var es []store.ListedEvent
	view(t, s, func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(tenantID, f)
		return err
	})
	return es
}

func TestDuplicateEventsStoredOnce(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		dev := deviceID(1)
		claim(t, s, tn.ID, dev)
		at := now.UTC().Truncate(time.Microsecond)
		e1, e2 := event("exit code 1", 1, at), event("exit code 2", 1, at)
		b := api.EventBatch{Events: []api.DeviceEvent{e1, e2, e1}}
		if res := addEvents(t, s, report.Upload(tn.ID, dev, b, at)); res.Accepted != 2 || res.Duplicates != 1 {
			t.Errorf("first upload: %+v, want 2 accepted and 1 duplicate", res)
		}
		if res := addEvents(t, s, report.Upload(tn.ID, dev, b, at)); res.Accepted != 0 || res.Duplicates != 3 {
			t.Errorf("upload again: %+v, want 3 duplicates", res)
		}
		if es := listEvents(t, s, tn.ID, store.EventFilter{}); len(es) != 2 {
			t.Errorf("%d events stored, want 2", len(es))
		}
		// A device of another tenant may use the same event IDs: they are its own.
		other := newTenant(t, s, "Fabrikam")
		claim(t, s, other.ID, deviceID(2))
		if res := addEvents(t, s, report.Upload(other.ID, deviceID(2), b, at)); res.Accepted != 2 {
			t.Errorf("another device's events with the same IDs: %+v", res)
		}
		// A device of another tenant is not found.
		err := s.Update(t.Context(), func(tx *store.Tx) error {
			_, err := tx.AddEvents(report.Upload(other.ID, dev, b, at))
			return err
		})
		wantErr(t, "events of another tenant's device", err, store.ErrNotFound)
	})
}

// TestDailyCapFoldsEvents: beyond the daily cap, events are counted in the newest event of their
// signature, or in one EventsDropped event, never stored one by one.
func TestDailyCapFoldsEvents(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		dev := deviceID(1)
		claim(t, s, tn.ID, dev)
		at := now.UTC().Truncate(time.Microsecond)
		upload := func(b api.EventBatch) store.EventsAdded {
			u := report.Upload(tn.ID, dev, b, at)
			u.DailyCap = 2
			return addEvents(t, s, u)
		}
		upload(api.EventBatch{Events: []api.DeviceEvent{event("exit code 1", 1, at), event("killed by signal 9", 1, at)}})
		res := upload(api.EventBatch{Events: []api.DeviceEvent{event("exit code 7", 5, at), event("out of memory", 2, at)}, Dropped: 10})
		if res.Accepted != 2 || res.Folded != 2 {
			t.Errorf("beyond the cap: %+v, want 2 accepted, both folded", res)
		}
		upload(api.EventBatch{Events: []api.DeviceEvent{event("disk full", 3, at)}})

		counts := map[string]int{}
		for _, e := range listEvents(t, s, tn.ID, store.EventFilter{}) {
			counts[e.Category+" "+e.Description] += e.Count
		}
		want := map[string]int{
			api.EventAppExit + " exit code 1":                                                      6, // 1 + the folded exit code 7's 5
			api.EventAppExit + " killed by signal 9":                                               1, // untouched
			api.EventsDropped + " " + report.Upload("", "", api.EventBatch{}, at).Lost.Description: 10 + 2 + 3,
		}
		if len(counts) != len(want) {
			t.Errorf("events %v, want %v", counts, want)
		}
		for k, n := range want {
			if counts[k] != n {
				t.Errorf("%s: count %d, want %d", k, counts[k], n)
			}
		}
	})
}

func TestEventSummaryGroupsBySignature(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		claim(t, s, tn.ID, deviceID(1), deviceID(2))
		at := now.UTC().Truncate(time.Microsecond)
		comp := ident.NewID()
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
		if top.ComponentID != comp || top.Description != "exit code N" || top.Events != 6 || top.Devices != 2 ||
			top.Signature != report.Signature(api.EventAppExit, comp, "exit code 1") {
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
