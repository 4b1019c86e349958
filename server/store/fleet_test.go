package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// fleet claims devices 0..5 into a tenant's first group: 0 and 1 passed attestation on runtime
// aa…, 2 passed on runtime bb…, 3 failed (reason "x"), 4 and 5 never attested. Device 0 attested
// an hour before the others; tenant b has one device that passed.
func fleet(t *testing.T, s *store.Store) (a, b api.Tenant, group api.DeviceGroup) {
	t.Helper()
	a, b = newTenant(t, s, "A"), newTenant(t, s, "B")
	_, groups := newProduct(t, s, a.ID, "Widget")
	group = groups[0]
	var ids []ident.DeviceID
	for i := range 6 {
		ids = append(ids, deviceID(i))
	}
	claim(t, s, a.ID, ids...)
	claim(t, s, b.ID, deviceID(100))
	aa, bb := string(slices.Repeat([]byte("a"), 128)), string(slices.Repeat([]byte("b"), 128))
	update(t, s, func(tx *store.Tx) error {
		for _, id := range ids {
			if err := tx.SetDeviceGroup(a.ID, id, group.ID); err != nil {
				return err
			}
		}
		for _, at := range []store.Attestation{
			{DeviceID: ids[0], TenantID: a.ID, At: now.Add(-time.Hour), Result: api.AttestPass, RuntimeSHA512: aa},
			{DeviceID: ids[1], TenantID: a.ID, At: now, Result: api.AttestPass, RuntimeSHA512: aa},
			{DeviceID: ids[2], TenantID: a.ID, At: now, Result: api.AttestPass, RuntimeSHA512: bb},
			{DeviceID: ids[3], TenantID: a.ID, At: now, Result: api.AttestFail, Reason: "x"},
			{DeviceID: deviceID(100), TenantID: b.ID, At: now, Result: api.AttestPass, RuntimeSHA512: aa},
		} {
			if err := tx.RecordAttestation(at); err != nil {
				return err
			}
		}
		return nil
	})
	return a, b, group
}

func TestFleetCountsByGroupAttestationAndRuntime(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, _, group := fleet(t, s)
		var got []api.FleetCount
		view(t, s, func(tx *store.Tx) (err error) { got, err = tx.FleetCounts(a.ID, 100); return err })
		aa, bb := string(slices.Repeat([]byte("a"), 128)), string(slices.Repeat([]byte("b"), 128))
		want := []api.FleetCount{
			{AttestResult: "", Devices: 2},
			{AttestResult: api.AttestPass, RuntimeSHA512: aa, Devices: 2},
			{AttestResult: api.AttestFail, AttestReason: "x", Devices: 1},
			{AttestResult: api.AttestPass, RuntimeSHA512: bb, Devices: 1},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d rows %+v, want %d", len(got), got, len(want))
		}
		for i, w := range want {
			w.GroupID, w.GroupName, w.ProductName = group.ID, group.Name, "Widget"
			g := got[i]
			if g.GroupID != w.GroupID || g.GroupName != w.GroupName || g.ProductName != w.ProductName ||
				g.AttestResult != w.AttestResult || g.AttestReason != w.AttestReason || g.RuntimeSHA512 != w.RuntimeSHA512 || g.Devices != w.Devices {
				t.Errorf("row %d: got %+v, want %+v", i, g, w)
			}
		}
		view(t, s, func(tx *store.Tx) (err error) { got, err = tx.FleetCounts(a.ID, 1); return err })
		if len(got) != 1 || got[0].Devices != 2 || got[0].AttestResult != "" {
			t.Errorf("limit 1: got %+v, want the largest count alone", got)
		}
	})
}

func TestDeviceFilterByAttestationRuntimeAndLastSeen(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, _, _ := fleet(t, s)
		aa := string(slices.Repeat([]byte("a"), 128))
		for _, tc := range []struct {
			name   string
			filter store.DeviceFilter
			want   []int
		}{
			{"passed", store.DeviceFilter{Attestation: api.AttestPass}, []int{0, 1, 2}},
			{"failed", store.DeviceFilter{Attestation: api.AttestFail}, []int{3}},
			{"never", store.DeviceFilter{Attestation: store.AttestNever}, []int{4, 5}},
			{"runtime", store.DeviceFilter{RuntimeSHA512: aa}, []int{0, 1}},
			{"seen since", store.DeviceFilter{SeenSince: now.Add(-time.Minute)}, []int{1, 2, 3}},
			{"not seen since", store.DeviceFilter{NotSeenSince: now.Add(-time.Minute)}, []int{0, 4, 5}},
			{"runtime and seen", store.DeviceFilter{RuntimeSHA512: aa, SeenSince: now.Add(-time.Minute)}, []int{1}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []api.Device
				view(t, s, func(tx *store.Tx) (err error) { got, err = tx.Devices(a.ID, tc.filter); return err })
				var want []ident.DeviceID
				for _, n := range tc.want {
					want = append(want, deviceID(n))
				}
				slices.Sort(want)
				var ids []ident.DeviceID
				for _, d := range got {
					ids = append(ids, d.ID)
				}
				if !slices.Equal(ids, want) {
					t.Errorf("got %v, want %v", ids, want)
				}
			})
		}
	})
}

func TestDeploymentProgressCountsReportsSinceTheDeployment(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		_, groups := newProduct(t, s, a.ID, "Widget")
		g := groups[1]
		ids := []ident.DeviceID{deviceID(0), deviceID(1), deviceID(2), deviceID(3), deviceID(4)}
		claim(t, s, a.ID, ids...)
		claim(t, s, b.ID, deviceID(9))
		since := now.Add(-time.Hour)
		update(t, s, func(tx *store.Tx) error {
			for _, id := range ids {
				if err := tx.SetDeviceGroup(a.ID, id, g.ID); err != nil {
					return err
				}
			}
			for id, rep := range map[ident.DeviceID]struct {
				result string
				at     time.Time
			}{
				ids[0]: {api.UpdateOK, now},                     // updated
				ids[1]: {api.UpdateFailed, now},                 // failed
				ids[2]: {api.UpdateOK, since.Add(-time.Minute)}, // received before the deployment
				ids[4]: {api.UpdateOK, now},                     // revoked: not counted
			} {
				if err := tx.RecordUpdateReport(a.ID, id, api.UpdateReport{Result: rep.result, At: rep.at}, rep.at); err != nil {
					return err
				}
			}
			return tx.RevokeDevice(a.ID, ids[4], now)
		})
		var p api.DeploymentProgress
		view(t, s, func(tx *store.Tx) (err error) { p, err = tx.DeploymentProgress(a.ID, g.ID, since); return err })
		if p != (api.DeploymentProgress{Devices: 4, Updated: 1, Failed: 1}) {
			t.Errorf("progress %+v, want 4 devices, 1 updated, 1 failed", p)
		}
		view(t, s, func(tx *store.Tx) (err error) { p, err = tx.DeploymentProgress(b.ID, g.ID, since); return err })
		if p != (api.DeploymentProgress{}) {
			t.Errorf("another tenant's group: %+v, want nothing counted", p)
		}
	})
}
