package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Actor is who the audit log names for the changes the service makes by itself.
const Actor = "service/rollout"

// health is what the gate found among the devices of the waves reached.
type health struct {
	waves            []api.WaveStatus
	counted, failing int // devices that count towards the failure rate, and those that fail
}

// rate is the failure rate in percent; 0 when no device counts.
func (h health) rate() float64 {
	if h.counted == 0 {
		return 0
	}
	return 100 * float64(h.failing) / float64(h.counted)
}

// measure reads the devices of d's group and returns each wave's progress and the gate's
// counts at now.
func measure(tx *store.Tx, d api.Deployment, now time.Time) (health, error) {
	r := d.Rollout
	waves := r.Waves
	if len(waves) == 0 {
		waves = []int{100}
	}
	devices, err := tx.RolloutDevices(d.TenantID, d.GroupID, d.ImageIDs, d.CreatedAt)
	if err != nil {
		return health{}, err
	}
	h := health{waves: make([]api.WaveStatus, len(waves))}
	for i, p := range waves {
		h.waves[i] = api.WaveStatus{Percent: p, Reached: r.State == api.RolloutComplete || i <= r.Wave}
	}
	wait := time.Duration(r.WaveWaitSeconds) * time.Second
	for _, dev := range devices {
		bin := api.RolloutBin(d.ID, dev.ID)
		w := 0
		for w < len(waves)-1 && bin >= waves[w] {
			w++
		}
		ws := &h.waves[w]
		ws.Targeted++
		failed := (dev.LastResult == api.UpdateFailed || dev.LastResult == api.UpdateRolledBack) && !dev.LastUpdateAt.Before(d.CreatedAt)
		updated := !failed && hasAll(dev.Installed, d.ImageIDs)
		switch {
		case failed:
			ws.Failed++
		case updated:
			ws.Updated++
		}
		ws.Crashes += dev.Crashes
		if !ws.Reached {
			continue
		}
		switch {
		case failed || dev.Crashes > 0:
			h.counted++
			h.failing++
		case updated && !now.Before(dev.LastUpdateAt.Add(wait)):
			h.counted++
		}
	}
	return h, nil
}

// hasAll reports whether installed holds every one of images.
func hasAll(installed []api.InstalledImage, images []ident.ImageID) bool {
	have := make(map[string]bool, len(installed))
	for _, im := range installed {
		have[im.ImageID] = true
	}
	for _, id := range images {
		if !have[string(id)] {
			return false
		}
	}
	return len(images) > 0
}

// Status returns a tenant's deployment with its waves' progress.
func (s *Service) Status(ctx context.Context, tenantID ident.TenantID, id ident.DeploymentID, now time.Time) (api.DeploymentStatus, error) {
	var out api.DeploymentStatus
	err := s.store.View(ctx, func(tx *store.Tx) error {
		d, err := tx.Deployment(tenantID, id)
		if err != nil {
			return err
		}
		h, err := measure(tx, d, now)
		out = api.DeploymentStatus{Deployment: d, Waves: h.waves}
		return err
	})
	return out, err
}

// gate decides what becomes of a rolling deployment at now: its next rollout state, or ok
// false to leave it as it is.
func gate(d api.Deployment, h health, now time.Time) (next api.Rollout, ok bool) {
	r := *d.Rollout
	waited := !now.Before(r.WaveStartedAt.Add(time.Duration(r.WaveWaitSeconds) * time.Second))
	over := h.rate() > r.MaxFailure
	enough := h.counted >= max(r.MinDevices, 1)
	halt := func(format string, args ...any) (api.Rollout, bool) {
		r.State, r.Reason, r.ChangedAt = api.RolloutHalted, fmt.Sprintf(format, args...), now
		return r, true
	}
	switch {
	case enough && over:
		return halt("%d of %d devices failed or crashed (%.1f%%), more than --max-failure %g%%", h.failing, h.counted, h.rate(), r.MaxFailure)
	case !waited:
		return r, false
	case !enough:
		return halt("only %d devices had the deployment for the wave wait or failed, fewer than --min-devices %d", h.counted, r.MinDevices)
	}
	return promoted(r, now), true
}

// Evaluate runs the health gate of every rolling deployment at now and promotes or halts
// those it decides, each in its own transaction and only if no one changed it since it was
// read. The service runs it periodically on every replica.
func (s *Service) Evaluate(ctx context.Context, now time.Time) error {
	var rolling []api.Deployment
	err := s.store.View(ctx, func(tx *store.Tx) error {
		var err error
		rolling, err = tx.Rollouts(api.RolloutRolling)
		return err
	})
	if err != nil {
		return fmt.Errorf("evaluate rollouts: %w", err)
	}
	var errs []error
	for _, d := range rolling {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.evaluate(ctx, d, now); err != nil {
			errs = append(errs, fmt.Errorf("evaluate rollout of deployment %s: %w", d.ID, err))
		}
	}
	return errors.Join(errs...)
}

// evaluate runs the gate of one rolling deployment d.
func (s *Service) evaluate(ctx context.Context, d api.Deployment, now time.Time) error {
	var h health
	err := s.store.View(ctx, func(tx *store.Tx) error {
		var err error
		h, err = measure(tx, d, now)
		return err
	})
	if err != nil {
		return err
	}
	next, ok := gate(d, h, now)
	if !ok {
		return nil
	}
	keys, err := s.tuf.PrepareGroup(ctx, d.TenantID)
	if err != nil {
		return err
	}
	action := "deployment.promote"
	if next.State == api.RolloutHalted {
		action = "deployment.halt"
	}
	return s.store.Update(ctx, func(tx *store.Tx) error {
		_, err := s.change(ctx, tx, keys, d, next, func(tx *store.Tx) error {
			_, err := tx.AppendAudit(api.AuditEntry{TenantID: d.TenantID, Time: now, Actor: Actor, Action: action,
				Target: "deployment/" + string(d.ID), Detail: describe(d.Rollout, next)})
			return err
		})
		return err // not changed: another replica or an administrator was first
	})
}
