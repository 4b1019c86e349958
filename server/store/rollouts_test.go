package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// TestRolloutChangesAreConditional: a rollout change made from a stale read changes nothing, so
// that replicas evaluating the same rollout at once promote or halt it once.
func TestRolloutChangesAreConditional(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		_, groups := newProduct(t, s, tn.ID, "Toaster")
		g := groups[2]
		im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		addImages(t, s, im)
		plain := api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: tn.ID, GroupID: g.ID,
			ImageIDs: []ident.ImageID{im.ID}, CreatedAt: now, CreatedBy: "admin@contoso"}
		waved := plain
		waved.ID = ident.DeploymentID(ident.NewID())
		waved.Rollout = &api.Rollout{State: api.RolloutRolling, Waves: []int{1, 10, 100}, WaveStartedAt: now,
			WaveWaitSeconds: 3600, MaxFailure: 2.5, MinDevices: 20, RollbackOnHalt: true, PreviousID: plain.ID, ChangedAt: now}
		update(t, s, func(tx *store.Tx) error {
			if err := tx.AddDeployment(plain); err != nil {
				return err
			}
			return tx.AddDeployment(waved)
		})
		var read api.Deployment
		view(t, s, func(tx *store.Tx) error {
			var err error
			read, err = tx.Deployment(tn.ID, waved.ID)
			if err != nil {
				return err
			}
			want := *waved.Rollout
			want.WaveStartedAt, want.ChangedAt, want.Revision = micro(now), micro(now), 1
			if !reflect.DeepEqual(*read.Rollout, want) {
				t.Errorf("rollout read back:\n got %+v\nwant %+v", *read.Rollout, want)
			}
			cur, err := tx.CurrentDeployment(tn.ID, g.ID)
			if err != nil || cur.ID != plain.ID {
				t.Errorf("current deployment during a rollout: %s, %v; want %s", cur.ID, err, plain.ID)
			}
			rolling, err := tx.Rollouts(api.RolloutRolling)
			if err != nil || len(rolling) != 1 || rolling[0].ID != waved.ID {
				t.Errorf("rolling rollouts: %+v, %v", rolling, err)
			}
			return nil
		})

		promoted := *read.Rollout
		promoted.Wave, promoted.WaveStartedAt, promoted.ChangedAt = 1, now.Add(time.Hour), now.Add(time.Hour)
		halted := *read.Rollout
		halted.State, halted.Reason = api.RolloutHalted, "too many failures"
		update(t, s, func(tx *store.Tx) error {
			ok, err := tx.SetRollout(tn.ID, waved.ID, promoted)
			if err != nil || !ok {
				t.Errorf("first change: %v, %v", ok, err)
			}
			ok, err = tx.SetRollout(tn.ID, waved.ID, halted) // read at the same revision: stale
			if err != nil || ok {
				t.Errorf("change from a stale read: %v, %v; want refused", ok, err)
			}
			ok, err = tx.SetRollout("other", waved.ID, promoted)
			if err != nil || ok {
				t.Errorf("change through another tenant: %v, %v; want refused", ok, err)
			}
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Deployment(tn.ID, waved.ID)
			if err == nil && (got.Rollout.Wave != 1 || got.Rollout.State != api.RolloutRolling || got.Rollout.Revision != 2) {
				t.Errorf("after the changes: %+v", *got.Rollout)
			}
			return err
		})
	})
}

// TestRolloutDevicesReadsReportsAndCrashes: the health gate's view of a group: each device's
// last report, and its crashes of the given images since the given time only.
func TestRolloutDevicesReadsReportsAndCrashes(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		_, groups := newProduct(t, s, tn.ID, "Toaster")
		g := groups[2]
		im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		other := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		addImages(t, s, im, other)
		a, b, c := deviceID(1), deviceID(2), deviceID(3)
		claim(t, s, tn.ID, a, b, c)
		crash := func(id string, image ident.ImageID, count int, at time.Time) store.Event {
			return store.Event{DeviceEvent: api.DeviceEvent{ID: id, Category: api.EventAppCrash, Class: "app", Type: "unplanned",
				Description: "trap", ImageID: image, Count: count, FirstAt: at, LastAt: at}, Signature: id}
		}
		update(t, s, func(tx *store.Tx) error {
			for _, d := range []ident.DeviceID{a, b} {
				if err := tx.SetDeviceGroup(tn.ID, d, g.ID); err != nil {
					return err
				}
			}
			err := tx.RecordUpdateReport(tn.ID, a, api.UpdateReport{Result: api.UpdateOK, At: now,
				Installed: []api.InstalledImage{{ImageID: string(im.ID), ComponentID: string(im.ComponentID), Name: "x", Type: api.ImageApplication}}}, now)
			if err != nil {
				return err
			}
			if err := tx.RecordUpdateReport(tn.ID, b, api.UpdateReport{Result: api.UpdateRolledBack, At: now}, now); err != nil {
				return err
			}
			_, err = tx.InsertEvents(tn.ID, a, g.ID, []store.Event{
				crash("11111111-1111-4111-8111-111111111111", im.ID, 3, now),
				crash("22222222-2222-4222-8222-222222222222", other.ID, 5, now),
				crash("33333333-3333-4333-8333-333333333333", im.ID, 7, now.Add(-2*time.Hour)),
			}, now)
			return err
		})
		view(t, s, func(tx *store.Tx) error {
			ds, err := tx.RolloutDevices(tn.ID, g.ID, []ident.ImageID{im.ID}, now.Add(-time.Hour))
			if err != nil {
				return err
			}
			if len(ds) != 2 {
				t.Fatalf("%d devices, want the group's 2: %+v", len(ds), ds)
			}
			byID := map[ident.DeviceID]store.RolloutDevice{ds[0].ID: ds[0], ds[1].ID: ds[1]}
			if d := byID[a]; d.LastResult != api.UpdateOK || len(d.Installed) != 1 || d.Crashes != 3 || !d.LastUpdateAt.Equal(micro(now)) {
				t.Errorf("device a: %+v", d)
			}
			if d := byID[b]; d.LastResult != api.UpdateRolledBack || d.Crashes != 0 {
				t.Errorf("device b: %+v", d)
			}
			return nil
		})
	})
}
