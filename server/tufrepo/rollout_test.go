package tufrepo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/update"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// publishRollout publishes a rollout of deployment to percent of groupID's devices.
func (e *env) publishRollout(tenantID ident.TenantID, groupID ident.GroupID, r tufrepo.Rollout) {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.tuf.PrepareGroup(ctx, tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishRollout(ctx, tx, keys, groupID, r) })
	if err != nil {
		e.t.Fatal(err)
	}
}

// deviceInBin returns a device of groupID whose bin in deployment's rollout is below percent
// (in) or not (out).
func deviceInBin(tenantID ident.TenantID, groupID ident.GroupID, deployment ident.DeploymentID, percent int, in bool) api.Device {
	for i := 0; ; i++ {
		id := ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "%s-%d", groupID, i))
		if (api.RolloutBin(deployment, id) < percent) == in {
			return api.Device{ID: id, TenantID: tenantID, GroupID: groupID, State: api.DeviceClaimed}
		}
	}
}

// followed refreshes d as the device's update client does and returns the image IDs of the
// targets it follows.
func (d *device) followed() (map[ident.ImageID]bool, error) {
	u := d.updater()
	if err := u.Refresh(); err != nil {
		return nil, err
	}
	targets, prefix, err := update.RolloutTargets(u, d.dev.ID)
	if err != nil {
		return nil, err
	}
	out := map[ident.ImageID]bool{}
	for name := range targets {
		out[ident.ImageID(name[len(prefix):])] = true
	}
	return out, nil
}

func (d *device) mustFollow(want ...api.Image) {
	d.e.t.Helper()
	got, err := d.followed()
	if err != nil {
		d.e.t.Fatalf("device %s: %v", d.dev.ID, err)
	}
	if len(got) != len(want) {
		d.e.t.Fatalf("device %s follows %v, want %d images", d.dev.ID, got, len(want))
	}
	for _, im := range want {
		if !got[im.ID] {
			d.e.t.Fatalf("device %s follows %v, want image %s", d.dev.ID, got, im.ID)
		}
	}
}

// rolloutEnv is a group with a previous deployment and a rollout of a new one to 10%, and a
// device in the wave and one outside it, each trusting the repository's first root.
type rolloutEnv struct {
	*env
	tenantID    ident.TenantID
	groupID     ident.GroupID
	repo        string
	old, new    api.Image
	rollout     tufrepo.Rollout
	inside, out *device
}

func newRollout(e *env) *rolloutEnv {
	tenantID, groupID, _ := group(e)
	r := &rolloutEnv{env: e, tenantID: tenantID, groupID: groupID, repo: tufrepo.GroupRepo(groupID),
		old: e.image(tenantID, "old"), new: e.image(tenantID, "new")}
	e.publishGroup(tenantID, groupID, r.old)
	r.rollout = tufrepo.Rollout{DeploymentID: ident.DeploymentID(ident.NewID()), Images: []api.Image{r.new},
		Previous: []api.Image{r.old}, Percent: 10}
	r.inside = e.device(deviceInBin(tenantID, groupID, r.rollout.DeploymentID, 10, true), r.repo)
	r.out = e.device(deviceInBin(tenantID, groupID, r.rollout.DeploymentID, 10, false), r.repo)
	r.inside.trustFirstRoot()
	r.out.trustFirstRoot()
	r.inside.mustFollow(r.old)
	r.out.mustFollow(r.old)
	e.publishRollout(tenantID, groupID, r.rollout)
	return r
}

// TestRolloutReachesOnlyItsWaves: during a rollout each device follows its own bin's role: a
// device in the waves reached gets the new deployment, the others keep the previous one; a
// promotion widens it, and a rollback returns everyone, with only changed bins re-signed.
func TestRolloutReachesOnlyItsWaves(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := newRollout(e)
		r.inside.mustFollow(r.new)
		r.out.mustFollow(r.old)

		// The bins are spread evenly: of 2000 devices, 10% are in the first wave, give or take.
		in := 0
		for i := range 2000 {
			if api.RolloutBin(r.rollout.DeploymentID, ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "d%d", i))) < 10 {
				in++
			}
		}
		if in < 140 || in > 260 {
			t.Errorf("%d of 2000 devices in a 10%% wave", in)
		}

		binVersions := func() map[string]int64 {
			v := map[string]int64{}
			for b := range api.RolloutBins {
				v[api.BinRole(b)] = e.file(r.repo, api.BinRole(b), 0).Version
			}
			return v
		}
		before := binVersions()
		r.rollout.Percent = 100
		e.publishRollout(r.tenantID, r.groupID, r.rollout)
		after := binVersions()
		changed := 0
		for b := range api.RolloutBins {
			if after[api.BinRole(b)] != before[api.BinRole(b)] {
				changed++
			}
		}
		if changed != 90 {
			t.Errorf("promotion from 10%% to 100%% re-signed %d bin roles, want 90", changed)
		}
		r.inside.mustFollow(r.new)
		r.out.mustFollow(r.new)

		// Back to the previous deployment, published plainly: the bins stay named in the
		// snapshot, so that no device sees a role vanish.
		e.publishGroup(r.tenantID, r.groupID, r.old)
		r.inside.mustFollow(r.old)
		r.out.mustFollow(r.old)
	})
}

// TestRolloutDeviceOutsideWaveForgingMembershipIsRefused: a device not reached yet cannot read
// the roles or targets of bins in the wave (404, as for anything it may not read), so it learns
// nothing of the deployment on its way; and the bin role metadata of the wave, served to it in
// place of its own, is refused.
func TestRolloutDeviceOutsideWaveForgingMembershipIsRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := newRollout(e)
		r.inside.mustFollow(r.new)
		r.out.mustFollow(r.old)
		inBin := api.RolloutBin(r.rollout.DeploymentID, r.inside.dev.ID)
		outBin := api.RolloutBin(r.rollout.DeploymentID, r.out.dev.ID)
		inRole := api.BinRole(inBin)
		for _, file := range []string{inRole + ".json", "2." + inRole + ".json",
			"targets/" + api.BinTargetPrefix(inBin) + string(r.new.ID)} {
			res := r.out.get(file)
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("a device outside the wave asked for %s: %s, want 404", file, res.Status)
			}
		}
		if res := r.inside.get("1." + inRole + ".json"); res.StatusCode != http.StatusOK {
			t.Errorf("the device of %s asked for its role: %s", inRole, res.Status)
		}

		// Someone in the service's place hands a device outside the wave (which has not
		// fetched its bin's role yet) the wave's bin role as its own.
		waveRole := e.file(r.repo, inRole, 0)
		outRole := api.BinRole(outBin)
		forger := e.device(r.out.dev, r.repo)
		forger.trustFirstRoot()
		forger.setAttack(func(file string) []byte {
			if file == fmt.Sprintf("%d.%s.json", e.file(r.repo, outRole, 0).Version, outRole) {
				return waveRole.Body
			}
			return nil
		})
		if _, err := forger.followed(); !isMismatch(err) {
			t.Fatalf("another bin's role served as the device's own: %v, want a length or hash mismatch", err)
		}
	})
}

// TestRolloutMixAndMatchIsRefused: bin role metadata of another moment (an older version of
// the device's own bin, validly signed) cannot be combined with the current snapshot; nor can a
// role that names targets outside its bin's paths.
func TestRolloutMixAndMatchIsRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := newRollout(e)
		role := api.BinRole(api.RolloutBin(r.rollout.DeploymentID, r.inside.dev.ID))
		// Halted and rolled back, then resumed: the bin's role has the new deployment in
		// versions 1 and 3, the previous one in version 2.
		r.rollout.Percent = 0
		e.publishRollout(r.tenantID, r.groupID, r.rollout)
		rolledBack := e.file(r.repo, role, 2)
		r.rollout.Percent = 10
		e.publishRollout(r.tenantID, r.groupID, r.rollout)
		cur := e.file(r.repo, role, 0)
		if cur.Version != 3 {
			t.Fatalf("%s is at version %d, want 3", role, cur.Version)
		}
		fresh := e.device(r.inside.dev, r.repo)
		fresh.trustFirstRoot()
		fresh.setAttack(func(file string) []byte {
			if file == fmt.Sprintf("%d.%s.json", cur.Version, role) {
				return rolledBack.Body
			}
			return nil
		})
		if _, err := fresh.followed(); !isMismatch(err) {
			t.Fatalf("an older version of the bin role with the current snapshot: %v, want a mismatch", err)
		}
		fresh.setAttack(nil)
		fresh.mustFollow(r.new)
	})
}

// TestRolloutFreezeIsRefused: a device shown the repository as it was before a rollback (a
// frozen timestamp, naming the snapshot in which its bin had the halted deployment) refuses it
// once it expires.
func TestRolloutFreezeIsRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := newRollout(e)
		r.inside.mustFollow(r.new)
		frozenTS := e.file(r.repo, metadata.TIMESTAMP, 0).Body

		// The rollout halts and rolls back; the service keeps its timestamp fresh.
		r.rollout.Percent = 0
		e.publishRollout(r.tenantID, r.groupID, r.rollout)
		r.inside.mustFollow(r.old)

		// Freeze: a fresh device shown the timestamp from before the rollback.
		e.clock.Add(13 * time.Hour)
		e.refresh()
		e.clock.Add(12 * time.Hour)
		fresh := e.device(r.inside.dev, r.repo)
		fresh.trustFirstRoot()
		fresh.setAttack(func(file string) []byte {
			if file == "timestamp.json" {
				return frozenTS
			}
			return nil
		})
		if _, err := fresh.followed(); !errors.Is(err, &metadata.ErrExpiredMetadata{}) {
			t.Fatalf("a frozen timestamp: %v, want expired", err)
		}
		fresh.setAttack(nil)
		fresh.mustFollow(r.old)
	})
}

func isMismatch(err error) bool {
	for _, m := range mismatch {
		if errors.Is(err, m) {
			return true
		}
	}
	return false
}

// TestRolloutBinRoleServedWhileItCompletes: a device walking the rollout's targets when the
// rollout completes (plain targets are published) still reads its own bin's role of those
// targets, so its refresh does not fail for a change it had not seen; a device of another bin
// still reads no other bin's role, then or after.
func TestRolloutBinRoleServedWhileItCompletes(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		r := newRollout(e)
		inRole := api.BinRole(api.RolloutBin(r.rollout.DeploymentID, r.inside.dev.ID))
		e.publishGroup(r.tenantID, r.groupID, r.new) // the rollout completes
		if res := r.inside.get("1." + inRole + ".json"); res.StatusCode != http.StatusOK {
			t.Errorf("the device of %s asked for its role of the targets before: %s", inRole, res.Status)
		}
		res := r.out.get("1." + inRole + ".json")
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("a device of another bin asked for %s: %s, want 404", inRole, res.Status)
		}
		e.publishGroup(r.tenantID, r.groupID, r.new) // and again: the rollout's targets are two versions back
		res = r.inside.get("1." + inRole + ".json")
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("a bin role of targets two versions back: %s, want 404", res.Status)
		}
	})
}
