package deploy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// Rollouts (DESIGN section 7; api.Rollout). A deployment with waves starts rolling at its first
// wave. [Service.Evaluate], run periodically by every replica, promotes a rolling deployment's
// wave once its wait has passed and its health gate holds, and halts it when the gate fails;
// [Service.Control] pauses, resumes, cancels and promotes on an administrator's word. Every
// change is made in one transaction with the group's re-published TUF metadata and an audit
// entry, and only if the rollout is still at the revision it was read at
// ([store.Tx.SetRollout]): replicas that evaluate one rollout at once change it once.
//
// # The health gate
//
// Among the devices of the waves reached, a device fails if its last update report since the
// deployment was made is failed or rolled_back, or if it reported a crash of one of the
// deployment's images since then; it passes if it has every image of the deployment installed
// and has had it for at least the wave wait (its last report is that old). The failure rate is
// failing devices over failing and passing ones. After the wave wait, the next wave is reached
// if at least MinDevices devices count and the rate is at most MaxFailure; otherwise the
// rollout halts. It halts before the wait too once MinDevices devices count and the rate is
// over MaxFailure. A halt with RollbackOnHalt serves every device the previous deployment.

// checkRollout checks a request's waves and gate settings.
func checkRollout(req Request) error {
	if len(req.Waves) == 0 {
		return nil
	}
	if len(req.Waves) > api.MaxWaves {
		return errorf("waves: at most %d, got %d", api.MaxWaves, len(req.Waves))
	}
	for i, w := range req.Waves {
		if w < 1 || w > 100 || i > 0 && w <= req.Waves[i-1] {
			return errorf("waves: want increasing whole percentages from 1 to 100, got %s", wavesText(req.Waves))
		}
	}
	if last := req.Waves[len(req.Waves)-1]; last != 100 {
		return errorf("waves: the last wave must be 100%% (every device), got %d%%", last)
	}
	switch {
	case req.WaveWait < 0 || req.WaveWait > api.MaxWaveWait || req.WaveWait%time.Second != 0:
		return errorf("wave wait: want whole seconds from 0 to %s, got %s", api.MaxWaveWait, req.WaveWait)
	case math.IsNaN(req.MaxFailure) || req.MaxFailure < 0 || req.MaxFailure > 100:
		return errorf("max failure: want a percentage from 0 to 100, got %g", req.MaxFailure)
	case req.MinDevices < 0 || req.MinDevices > api.MaxMinDevices:
		return errorf("min devices: want 0 to %d, got %d", api.MaxMinDevices, req.MinDevices)
	}
	return nil
}

// wavesText writes waves as the CLI takes them: "1%,10%,100%".
func wavesText(waves []int) string {
	parts := make([]string, len(waves))
	for i, w := range waves {
		parts[i] = strconv.Itoa(w) + "%"
	}
	return strings.Join(parts, ",")
}

// newRollout returns the rollout of a new deployment to req's group, in tx: complete at once
// without waves (or with one wave of 100%), else rolling at its first wave, keeping the group's
// current deployment for the devices not reached. A group whose newest deployment is still
// rolling out, paused or halted takes no other until that one is complete or cancelled.
func newRollout(tx *store.Tx, req Request) (*api.Rollout, error) {
	newest, err := tx.LatestDeployment(req.TenantID, req.GroupID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err == nil && active(newest.Rollout.State) {
		return nil, conflictf("deployment %s to this group is %s: cancel it first (rampart deployment cancel %s), or let it complete",
			newest.ID, newest.Rollout.State, newest.ID)
	}
	r := &api.Rollout{State: api.RolloutComplete, WaveStartedAt: req.At, ChangedAt: req.At}
	if len(req.Waves) <= 1 {
		return r, nil
	}
	cur, err := tx.CurrentDeployment(req.TenantID, req.GroupID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	r.State, r.Waves, r.PreviousID = api.RolloutRolling, req.Waves, cur.ID
	r.WaveWaitSeconds, r.MaxFailure = int64(req.WaveWait/time.Second), math.Round(req.MaxFailure*100)/100
	r.MinDevices, r.RollbackOnHalt = req.MinDevices, req.RollbackOnHalt
	return r, nil
}

// active reports whether a rollout in state still decides what the group's devices get.
func active(state string) bool {
	return state == api.RolloutRolling || state == api.RolloutPaused || state == api.RolloutHalted
}

// publish publishes d, whose images are images, as its group's update metadata, in tx: its
// images for every device once complete; during its rollout, its images for the bins of the
// waves reached and the previous deployment's for the others; the previous deployment's alone
// once cancelled, or halted with RollbackOnHalt.
func (s *Service) publish(ctx context.Context, tx *store.Tx, keys tufrepo.GroupKeys, d api.Deployment, images []api.Image) error {
	r := d.Rollout
	var err error
	if r == nil || len(r.Waves) == 0 || r.State == api.RolloutComplete {
		publish := s.tuf.PublishGroup
		if d.Urgent {
			publish = s.tuf.PublishUrgent
		}
		err = publish(ctx, tx, keys, d.GroupID, images)
	} else {
		var previous []api.Image
		if r.PreviousID != "" {
			prev, err := tx.Deployment(d.TenantID, r.PreviousID)
			if err != nil {
				return err
			}
			if previous, err = applications(tx, d.TenantID, prev.ImageIDs); err != nil {
				return err
			}
		}
		if p := r.Percent(); p == 0 {
			err = s.tuf.PublishGroup(ctx, tx, keys, d.GroupID, previous)
		} else {
			err = s.tuf.PublishRollout(ctx, tx, keys, d.GroupID, tufrepo.Rollout{DeploymentID: d.ID, Images: images,
				Previous: previous, Percent: p, Urgent: d.Urgent})
		}
	}
	if err != nil {
		return fmt.Errorf("publish device group %s: %w", d.GroupID, err)
	}
	return nil
}

// PublishGroup publishes a group's update metadata from its newest deployment, in tx (for a
// group whose repository has none yet); keys come from tufrepo's PrepareGroup before tx began.
func (s *Service) PublishGroup(ctx context.Context, tx *store.Tx, keys tufrepo.GroupKeys, tenantID ident.TenantID, groupID ident.GroupID) error {
	d, err := tx.LatestDeployment(tenantID, groupID)
	if errors.Is(err, store.ErrNotFound) {
		return s.tuf.PublishGroup(ctx, tx, keys, groupID, nil)
	}
	if err != nil {
		return err
	}
	images, err := applications(tx, tenantID, d.ImageIDs)
	if err != nil {
		return err
	}
	return s.publish(ctx, tx, keys, d, images)
}

// change sets d's rollout to next if it is still at the revision read, re-publishes the
// group, leaves a notice for the group's devices to check in now (delivered by every replica's
// notify.Hub within a second) and audits action, in tx. It reports whether it changed it.
func (s *Service) change(ctx context.Context, tx *store.Tx, keys tufrepo.GroupKeys, d api.Deployment, next api.Rollout,
	audit func(tx *store.Tx) error) (bool, error) {
	ok, err := tx.SetRollout(d.TenantID, d.ID, next)
	if err != nil || !ok {
		return false, err
	}
	images, err := applications(tx, d.TenantID, d.ImageIDs)
	if err != nil {
		return false, err
	}
	d.Rollout = &next
	if err := s.publish(ctx, tx, keys, d, images); err != nil {
		return false, err
	}
	at := next.ChangedAt
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := tx.AddNotice(store.Notice{TenantID: d.TenantID, GroupID: d.GroupID, Reason: api.NoticeRollout,
		CreatedAt: at}); err != nil {
		return false, err
	}
	return true, audit(tx)
}

// promoted returns r moved on to its next wave at now: complete once that is the last.
func promoted(r api.Rollout, now time.Time) api.Rollout {
	r.State, r.Reason, r.WaveStartedAt, r.ChangedAt = api.RolloutRolling, "", now, now
	if r.Wave+1 < len(r.Waves) {
		r.Wave++
	}
	if r.Wave == len(r.Waves)-1 {
		r.State = api.RolloutComplete
	}
	return r
}

// Control applies an administrator's action (api.RolloutPause, RolloutResume, RolloutCancel,
// RolloutPromote) to a tenant's deployment, with an audit entry, and returns the deployment as
// it is now. An action that the rollout's state does not allow is a conflicting [*Error].
func (s *Service) Control(ctx context.Context, tenantID ident.TenantID, id ident.DeploymentID, action, by string, at time.Time, audit Audit) (api.Deployment, error) {
	keys, err := s.tuf.PrepareGroup(ctx, tenantID)
	if err != nil {
		return api.Deployment{}, err
	}
	var out api.Deployment
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		d, err := tx.Deployment(tenantID, id)
		if err != nil {
			return err
		}
		next, err := controlled(d, action, by, at)
		if err != nil {
			return err
		}
		ok, err := s.change(ctx, tx, keys, d, next, func(tx *store.Tx) error {
			return audit(tx, tenantID, "deployment."+action, "deployment/"+string(id), describe(d.Rollout, next))
		})
		if err == nil && !ok {
			err = conflictf("deployment %s changed meanwhile: look at it again (rampart deployment show %s)", id, id)
		}
		out, next.Revision = d, next.Revision+1
		out.Rollout = &next
		return err
	})
	return out, err
}

// controlled returns d's rollout after action, or why the action does not apply.
func controlled(d api.Deployment, action, by string, at time.Time) (api.Rollout, error) {
	r := *d.Rollout
	refuse := func() (api.Rollout, error) {
		return r, conflictf("deployment %s is %s: it cannot be %s", d.ID, r.State, map[string]string{
			api.RolloutPause: "paused", api.RolloutResume: "resumed", api.RolloutCancel: "cancelled", api.RolloutPromote: "promoted"}[action])
	}
	if len(r.Waves) == 0 {
		return r, conflictf("deployment %s has no waves: it reached every device when it was made", d.ID)
	}
	next := r
	next.ChangedAt = at
	switch action {
	case api.RolloutPause:
		if r.State != api.RolloutRolling {
			return refuse()
		}
		next.State, next.Reason = api.RolloutPaused, "paused by "+by
	case api.RolloutResume:
		if r.State != api.RolloutPaused && r.State != api.RolloutHalted {
			return refuse()
		}
		next.State, next.Reason, next.WaveStartedAt = api.RolloutRolling, "", at
	case api.RolloutCancel:
		if !active(r.State) {
			return refuse()
		}
		next.State, next.Reason = api.RolloutCancelled, "cancelled by "+by
	case api.RolloutPromote:
		if !active(r.State) {
			return refuse()
		}
		next = promoted(r, at)
	default:
		return r, errorf("unknown action %q: want pause, resume, cancel or promote", clip(action))
	}
	return next, nil
}

// describe says what changed, for the audit log.
func describe(from *api.Rollout, to api.Rollout) string {
	s := fmt.Sprintf("%s at wave %d (%d%%) -> %s at wave %d (%d%%)", from.State, from.Wave+1, from.Percent(),
		to.State, to.Wave+1, to.Percent())
	if to.Reason != "" {
		s += ": " + to.Reason
	}
	return s
}
