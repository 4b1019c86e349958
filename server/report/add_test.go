package report_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// each runs test on a fresh store of every backend.
func each(t *testing.T, test func(t *testing.T, s *store.Store)) { storetest.Each(t, test) }

// now is a time with nanoseconds, not in UTC, as time.Now might return.
var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

func newTenant(t *testing.T, s *store.Store, name string) api.Tenant {
	t.Helper()
	tn := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: name, CreatedAt: now}
	if err := s.Update(context.Background(), func(tx *store.Tx) error { return tx.CreateTenant(tn) }); err != nil {
		t.Fatal(err)
	}
	return tn
}

func deviceID(n int) ident.DeviceID {
	return ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "device %d", n))
}

func claim(t *testing.T, s *store.Store, tenantID string, ids ...ident.DeviceID) {
	t.Helper()
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(ident.TenantID(tenantID), ids, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func event(desc string, count int, at time.Time) api.DeviceEvent {
	return api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppExit, Class: api.ClassApp, Type: api.TypeUnplanned,
		Description: desc, Count: count, FirstAt: at.Add(-time.Minute), LastAt: at}
}

func addEvents(t *testing.T, s *store.Store, b report.Batch) report.Added {
	t.Helper()
	var res report.Added
	err := s.Update(context.Background(), func(tx *store.Tx) error {
		var err error
		res, err = report.Add(tx, b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func listEvents(t *testing.T, s *store.Store, tenantID string, f store.EventFilter) []store.ListedEvent {
	t.Helper()
	var es []store.ListedEvent
	err := s.View(context.Background(), func(tx *store.Tx) error {
		var err error
		es, err = tx.Events(ident.TenantID(tenantID), f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestDuplicateEventsStoredOnce(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		dev := deviceID(1)
		claim(t, s, string(tn.ID), dev)
		at := now.UTC().Truncate(time.Microsecond)
		e1, e2 := event("exit code 1", 1, at), event("exit code 2", 1, at)
		b := api.EventBatch{Events: []api.DeviceEvent{e1, e2, e1}}
		if res := addEvents(t, s, report.Upload(tn.ID, dev, b, at)); res.Accepted != 2 || res.Duplicates != 1 {
			t.Errorf("first upload: %+v, want 2 accepted and 1 duplicate", res)
		}
		if res := addEvents(t, s, report.Upload(tn.ID, dev, b, at)); res.Accepted != 0 || res.Duplicates != 3 {
			t.Errorf("upload again: %+v, want 3 duplicates", res)
		}
		if es := listEvents(t, s, string(tn.ID), store.EventFilter{}); len(es) != 2 {
			t.Errorf("%d events stored, want 2", len(es))
		}
		// A device of another tenant may use the same event IDs: they are its own.
		other := newTenant(t, s, "Fabrikam")
		claim(t, s, string(other.ID), deviceID(2))
		if res := addEvents(t, s, report.Upload(other.ID, deviceID(2), b, at)); res.Accepted != 2 {
			t.Errorf("another device's events with the same IDs: %+v", res)
		}
		// A device of another tenant is not found.
		err := s.Update(t.Context(), func(tx *store.Tx) error {
			_, err := report.Add(tx, report.Upload(other.ID, dev, b, at))
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
		claim(t, s, string(tn.ID), dev)
		at := now.UTC().Truncate(time.Microsecond)
		upload := func(b api.EventBatch) report.Added {
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
		for _, e := range listEvents(t, s, string(tn.ID), store.EventFilter{}) {
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
