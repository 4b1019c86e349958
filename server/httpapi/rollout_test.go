package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// fleet claims n more devices of tenant A into its group and returns them with the group's
// first device.
func fleet(t *testing.T, w *world, n int) []ident.DeviceID {
	t.Helper()
	ids := []ident.DeviceID{w.a.device}
	for i := range n {
		ids = append(ids, deviceID(100+i))
	}
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.ClaimDevices(w.a.tenant.ID, ids[1:], time.Now()); err != nil {
			return err
		}
		for _, id := range ids[1:] {
			if err := tx.SetDeviceGroup(w.a.tenant.ID, id, w.a.group.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// report records what a device reports after an update, at.
func report(t *testing.T, w *world, id ident.DeviceID, result string, at time.Time, images ...ident.ImageID) {
	t.Helper()
	var installed []api.InstalledImage
	for _, im := range images {
		installed = append(installed, api.InstalledImage{ImageID: string(im), ComponentID: ident.NewID(), Name: "app", Type: api.ImageApplication})
	}
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.RecordUpdateReport(w.a.tenant.ID, id, api.UpdateReport{Installed: installed, Result: result, At: at}, at)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rollout creates a deployment of images to tenant A's group with req's rollout settings.
func rollout(t *testing.T, w *world, req api.CreateDeploymentRequest) api.Deployment {
	t.Helper()
	req.DeviceGroupID = w.a.group.ID
	status, body := w.do(adminA, "POST", "/api/v1/deployments", req)
	if status != http.StatusCreated {
		t.Fatalf("create deployment: %d %s", status, body)
	}
	return decodeAs[api.Deployment](t, body)
}

func show(t *testing.T, w *world, id ident.DeploymentID) api.DeploymentStatus {
	t.Helper()
	status, body := w.do(readerA, "GET", "/api/v1/deployments/"+string(id), nil)
	if status != http.StatusOK {
		t.Fatalf("show deployment: %d %s", status, body)
	}
	return decodeAs[api.DeploymentStatus](t, body)
}

func evaluate(t *testing.T, w *world) {
	t.Helper()
	if err := w.api.EvaluateRollouts(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// groupTargets returns the names of the targets the group's top-level targets metadata lists,
// and whether it delegates to bins.
func groupTargets(t *testing.T, w *world) (names []string, delegated bool) {
	t.Helper()
	err := w.st.View(context.Background(), func(tx *store.Tx) error {
		f, err := tx.TUFMetadata(tufrepo.GroupRepo(w.a.group.ID), metadata.TARGETS, 0)
		if err != nil {
			return err
		}
		md, err := metadata.Targets().FromBytes(f.Body)
		if err != nil {
			return err
		}
		for name := range md.Signed.Targets {
			names = append(names, name)
		}
		delegated = md.Signed.Delegations != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, delegated
}

// TestRolloutPromotesHealthyWave: a wave whose devices have had the deployment for the wave
// wait, with no failures, is promoted by the periodic evaluation; the last wave completes the
// rollout and the group's metadata lists the images again.
func TestRolloutPromotesHealthyWave(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		devices := fleet(t, w, 29)
		ids := uploadN(t, w, 1)
		d := rollout(t, w, api.CreateDeploymentRequest{ImageIDs: ids, Waves: []int{30, 100},
			WaveWaitSeconds: ptr(int64(0)), MaxFailurePercent: ptr(0.0), MinDevices: ptr(1)})
		if d.Rollout == nil || d.Rollout.State != api.RolloutRolling || d.Rollout.PreviousID != w.a.deploy.ID {
			t.Fatalf("new rollout: %+v", d.Rollout)
		}
		if _, delegated := groupTargets(t, w); !delegated {
			t.Fatal("the group's targets do not delegate to bins during the rollout")
		}
		first := 0
		for _, dev := range devices {
			if api.RolloutBin(d.ID, dev) < 30 {
				report(t, w, dev, api.UpdateOK, time.Now().Add(-time.Second), ids...)
				first++
			}
		}
		if first == 0 {
			t.Fatal("no device in the first wave")
		}
		// Each device is shown targeted with what its bin is served.
		for _, dev := range devices {
			_, body := w.do(readerA, "GET", "/api/v1/devices/"+string(dev), nil)
			want := w.a.image.ID
			if api.RolloutBin(d.ID, dev) < 30 {
				want = ids[0]
			}
			if got := decodeAs[api.Device](t, body); got.Updates == nil || len(got.Updates.Targeted) != 1 || got.Updates.Targeted[0] != want {
				t.Fatalf("device %s (bin %d) targeted: %+v, want %s", dev, api.RolloutBin(d.ID, dev), got.Updates, want)
			}
		}
		st := show(t, w, d.ID)
		if len(st.Waves) != 2 || st.Waves[0].Targeted != first || st.Waves[0].Updated != first || !st.Waves[0].Reached ||
			st.Waves[1].Reached || st.Waves[0].Targeted+st.Waves[1].Targeted != len(devices) {
			t.Fatalf("waves before promotion: %+v (%d devices in the first)", st.Waves, first)
		}

		evaluate(t, w)
		st = show(t, w, d.ID)
		if st.Rollout.State != api.RolloutComplete || st.Rollout.Wave != 1 || !st.Waves[1].Reached {
			t.Fatalf("after evaluation: %+v", st.Rollout)
		}
		names, delegated := groupTargets(t, w)
		if delegated || len(names) != 1 || names[0] != api.TargetImagePrefix+string(ids[0]) {
			t.Errorf("the complete deployment's targets: %v (delegated %t)", names, delegated)
		}
		if _, body := w.do(adminA, "GET", "/api/v1/audit", nil); !strings.Contains(body, "deployment.promote") {
			t.Error("the promotion is not in the audit log")
		}
	})
}

// TestRolloutHaltsAndRollsBack: a failed install in the first wave over --max-failure halts
// the rollout at once, and with rollback on halt the group's metadata is the previous
// deployment's for every device; a resume goes back to the wave.
func TestRolloutHaltsAndRollsBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		devices := fleet(t, w, 29)
		ids := uploadN(t, w, 1)
		d := rollout(t, w, api.CreateDeploymentRequest{ImageIDs: ids, Waves: []int{30, 100},
			WaveWaitSeconds: ptr(int64(3600)), MaxFailurePercent: ptr(10.0), MinDevices: ptr(1), RollbackOnHalt: true})
		for _, dev := range devices {
			if api.RolloutBin(d.ID, dev) < 30 {
				report(t, w, dev, api.UpdateRolledBack, time.Now())
				break
			}
		}
		evaluate(t, w)
		st := show(t, w, d.ID)
		if st.Rollout.State != api.RolloutHalted || !strings.Contains(st.Rollout.Reason, "more than --max-failure 10%") ||
			st.Waves[0].Failed != 1 {
			t.Fatalf("after a rolled-back install: %+v %+v", st.Rollout, st.Waves)
		}
		names, delegated := groupTargets(t, w)
		if delegated || len(names) != 1 || names[0] != api.TargetImagePrefix+string(w.a.image.ID) {
			t.Errorf("after the halt, the group's targets: %v (delegated %t), want the previous deployment's", names, delegated)
		}
		if _, body := w.do(adminA, "GET", "/api/v1/audit", nil); !strings.Contains(body, "deployment.halt") {
			t.Error("the halt is not in the audit log")
		}

		// Another deployment waits for this one to be cancelled.
		other := uploadN(t, w, 1)
		if status, body := deploy(w, adminA, w.a.group.ID, other...); status != http.StatusConflict || !strings.Contains(body, "cancel it first") {
			t.Errorf("a deployment during a halted rollout: %d %s, want 409", status, body)
		}
		status, body := w.do(adminA, "POST", "/api/v1/deployments/"+string(d.ID)+"/resume", nil)
		if status != http.StatusOK || decodeAs[api.Deployment](t, body).Rollout.State != api.RolloutRolling {
			t.Fatalf("resume: %d %s", status, body)
		}
		if _, delegated := groupTargets(t, w); !delegated {
			t.Error("after resume the group's targets do not delegate to bins")
		}
	})
}

// TestRolloutHaltsWithTooFewDevices: after the wave wait, fewer devices reporting than
// --min-devices halt the rollout rather than promote it.
func TestRolloutHaltsWithTooFewDevices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		fleet(t, w, 4)
		ids := uploadN(t, w, 1)
		d := rollout(t, w, api.CreateDeploymentRequest{ImageIDs: ids, Waves: []int{50, 100}, WaveWaitSeconds: ptr(int64(0))})
		if d.Rollout.MinDevices != 20 || d.Rollout.MaxFailure != 5 || d.Rollout.RollbackOnHalt {
			t.Errorf("defaults: %+v", d.Rollout)
		}
		evaluate(t, w)
		if st := show(t, w, d.ID); st.Rollout.State != api.RolloutHalted || !strings.Contains(st.Rollout.Reason, "fewer than --min-devices 20") {
			t.Fatalf("too few devices: %+v", st.Rollout)
		}
	})
}

// TestRolloutControl: pause, resume, promote and cancel, each allowed only from the states it
// applies to, for Administrators of the deployment's tenant alone, each audited.
func TestRolloutControl(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		ids := uploadN(t, w, 1)
		d := rollout(t, w, api.CreateDeploymentRequest{ImageIDs: ids, Waves: []int{1, 10, 100}})
		path := func(action string) string { return "/api/v1/deployments/" + string(d.ID) + "/" + action }
		steps := []struct {
			principal, action string
			status            int
			state             string
			wave              int
		}{
			{readerA, "pause", http.StatusForbidden, "", 0},
			{adminB, "pause", http.StatusNotFound, "", 0},
			{adminA, "resume", http.StatusConflict, "", 0},
			{adminA, "pause", http.StatusOK, api.RolloutPaused, 0},
			{adminA, "pause", http.StatusConflict, "", 0},
			{adminA, "resume", http.StatusOK, api.RolloutRolling, 0},
			{adminA, "promote", http.StatusOK, api.RolloutRolling, 1},
			{adminA, "explode", http.StatusNotFound, "", 0},
			{adminA, "cancel", http.StatusOK, api.RolloutCancelled, 1},
			{adminA, "resume", http.StatusConflict, "", 0},
			{adminA, "promote", http.StatusConflict, "", 0},
		}
		for _, s := range steps {
			status, body := w.do(s.principal, "POST", path(s.action), nil)
			if status != s.status {
				t.Fatalf("%s %s: %d %s, want %d", s.principal, s.action, status, body, s.status)
			}
			if s.state == "" {
				continue
			}
			got := show(t, w, d.ID)
			if got.Rollout.State != s.state || got.Rollout.Wave != s.wave {
				t.Fatalf("after %s: %s at wave %d, want %s at %d", s.action, got.Rollout.State, got.Rollout.Wave, s.state, s.wave)
			}
		}
		_, body := w.do(adminA, "GET", "/api/v1/audit", nil)
		for _, action := range []string{"deployment.pause", "deployment.resume", "deployment.promote", "deployment.cancel"} {
			if !strings.Contains(body, action) {
				t.Errorf("%s is not in the audit log", action)
			}
		}
		// Cancelled: the group is back to its previous deployment, and takes a new one.
		if names, delegated := groupTargets(t, w); delegated || len(names) != 1 || names[0] != api.TargetImagePrefix+string(w.a.image.ID) {
			t.Errorf("after cancel the group's targets: %v (delegated %t)", names, delegated)
		}
		if status, body := deploy(w, adminA, w.a.group.ID, ids...); status != http.StatusCreated {
			t.Errorf("a deployment after a cancelled rollout: %d %s", status, body)
		}
		// A deployment without waves has no rollout to control.
		if status, body := w.do(adminA, "POST", "/api/v1/deployments/"+string(w.a.deploy.ID)+"/pause", nil); status != http.StatusConflict {
			t.Errorf("pause a deployment without waves: %d %s", status, body)
		}
	})
}

// TestRolloutRequestRefused: waves and gate settings out of their bounds are refused with a
// message naming the field.
func TestRolloutRequestRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		ids := uploadN(t, w, 1)
		for _, c := range []struct {
			body, want string
		}{
			{`"waves":[10,5,100]`, "increasing whole percentages"},
			{`"waves":[10,50]`, "the last wave must be 100%"},
			{`"waves":[0,100]`, "increasing whole percentages"},
			{`"waves":[1,2,3,4,5,6,7,8,9,10,100]`, "at most 10"},
			{`"waves":[10,100],"max_failure_percent":101`, "max failure"},
			{`"waves":[10,100],"min_devices":-1`, "min devices"},
			{`"waves":[10,100],"wave_wait_seconds":-5`, "wave_wait_seconds"},
			{`"min_devices":3`, "apply only with waves"},
			{`"waves":[10,100],"wave_size":3`, "unknown field"},
		} {
			body := fmt.Sprintf(`{"device_group_id":%q,"image_ids":[%q],%s}`, w.a.group.ID, ids[0], c.body)
			status, got := w.do(adminA, "POST", "/api/v1/deployments", body)
			if status != http.StatusBadRequest || !strings.Contains(got, c.want) {
				t.Errorf("%s: %d %s, want 400 with %q", c.body, status, got, c.want)
			}
		}
	})
}

// TestRolloutEvaluatedByReplicasAtOnceChangesOnce: replicas that evaluate the same rollout at
// the same moment promote it once: each change is conditional on the revision it read.
func TestRolloutEvaluatedByReplicasAtOnceChangesOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		devices := fleet(t, w, 19)
		ids := uploadN(t, w, 1)
		d := rollout(t, w, api.CreateDeploymentRequest{ImageIDs: ids, Waves: []int{50, 60, 100},
			WaveWaitSeconds: ptr(int64(1)), MaxFailurePercent: ptr(0.0), MinDevices: ptr(1)})
		for _, dev := range devices {
			if api.RolloutBin(d.ID, dev) < 50 {
				report(t, w, dev, api.UpdateOK, time.Now().Add(-time.Second), ids...)
			}
		}
		kek, err := pki.ParseKEK(strings.Repeat("42", 32))
		if err != nil {
			t.Fatal(err)
		}
		// Every replica evaluates at the same moment, past the first wave's wait: the wave
		// they promote to has its own wait, so it cannot be promoted again then.
		at := time.Now().Add(2 * time.Second)
		now := func() time.Time { return at }
		var replicas []*httpapi.API
		for range 4 {
			reg := prometheus.NewRegistry()
			replicas = append(replicas, httpapi.New(httpapi.Config{Store: w.st, CA: pki.NewAuthority(w.st, kek, nil), Blobs: w.blobs,
				Keys: w.keys, TUF: tufrepo.New(w.st, w.keys, w.blobs, now), Registry: reg, Gatherer: reg, Now: now}))
		}
		errs := make(chan error, len(replicas))
		for _, r := range replicas {
			go func() { errs <- r.EvaluateRollouts(context.Background()) }()
		}
		for range replicas {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		st := show(t, w, d.ID)
		if st.Rollout.Wave != 1 || st.Rollout.Revision != 2 {
			t.Fatalf("after %d replicas evaluated at once: wave %d, revision %d; want promoted once (wave 1, revision 2)",
				len(replicas), st.Rollout.Wave, st.Rollout.Revision)
		}
		_, body := w.do(adminA, "GET", "/api/v1/audit", nil)
		if n := strings.Count(body, "deployment.promote"); n != 1 {
			t.Errorf("%d promotions in the audit log, want 1", n)
		}
	})
}
