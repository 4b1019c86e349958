package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/deploy"
	"github.com/rampart-iot/rampart/server/store"
)

// Deployment routes: the rules and the publication are [deploy]'s.

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateDeploymentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	dreq := deploy.Request{TenantID: c.user.TenantID, GroupID: req.DeviceGroupID,
		ImageIDs: req.ImageIDs, By: c.user.Email, At: c.now, Waves: req.Waves, RollbackOnHalt: req.RollbackOnHalt,
		WaveWait: defaultWaveWait, MaxFailure: defaultMaxFailure, MinDevices: defaultMinDevices, Urgent: req.Urgent}
	if len(req.Waves) == 0 && (req.WaveWaitSeconds != nil || req.MaxFailurePercent != nil || req.MinDevices != nil || req.RollbackOnHalt) {
		return errorf(http.StatusBadRequest, "wave_wait_seconds, max_failure_percent, min_devices and rollback_on_halt apply only with waves")
	}
	if req.WaveWaitSeconds != nil {
		if *req.WaveWaitSeconds < 0 || *req.WaveWaitSeconds > int64(api.MaxWaveWait/time.Second) {
			return errorf(http.StatusBadRequest, "wave_wait_seconds: want 0 to %d", int64(api.MaxWaveWait/time.Second))
		}
		dreq.WaveWait = time.Duration(*req.WaveWaitSeconds) * time.Second
	}
	if req.MaxFailurePercent != nil {
		dreq.MaxFailure = *req.MaxFailurePercent
	}
	if req.MinDevices != nil {
		dreq.MinDevices = *req.MinDevices
	}
	dep, err := a.deploy.Create(r.Context(), dreq, c.audit)
	if err != nil {
		return err
	}
	// Devices waiting on their notification channel check in now; the others at their
	// interval, so a notice that is lost costs only time.
	if err := a.notices.Publish(r.Context(), c.user.TenantID, dep.GroupID, api.NoticeDeployment); err != nil {
		a.log.Warn("notify the devices of a new deployment", "err", err, "deployment", dep.ID)
	}
	return writeJSON(w, http.StatusCreated, dep)
}

// listDeployments lists the tenant's deployments, of one device group with ?device_group=ID,
// newest first.
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	var ds []api.Deployment
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		groupID := ident.GroupID(q.Get("device_group"))
		if groupID != "" {
			if _, err := tx.Group(c.user.TenantID, groupID); err != nil {
				return notFound(err, "device group %q not found", clip(groupID))
			}
		}
		var err error
		if ds, err = tx.Deployments(c.user.TenantID, groupID, limit); err != nil {
			return err
		}
		return withProgress(tx, c.user.TenantID, ds)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(ds))
}

// The gate settings of a deployment with waves that leaves them out.
const (
	defaultWaveWait   = time.Hour
	defaultMaxFailure = 5.0
	defaultMinDevices = 20
)

// showDeployment answers a deployment with its waves' progress (api.DeploymentStatus).
func (a *API) showDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	id := ident.DeploymentID(r.PathValue("deployment"))
	if !ident.IsID(id) {
		return errorf(http.StatusNotFound, "deployment %q not found", clip(id))
	}
	d, err := a.deploy.Status(r.Context(), c.user.TenantID, id, a.now())
	if err != nil {
		return notFound(err, "deployment %s not found", id)
	}
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		ds := []api.Deployment{d.Deployment}
		err := withProgress(tx, c.user.TenantID, ds)
		d.Deployment = ds[0]
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// controlDeployment pauses, resumes, cancels or promotes a deployment's rollout. A body, if
// any, is not read.
func (a *API) controlDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	id := ident.DeploymentID(r.PathValue("deployment"))
	action := r.PathValue("action")
	switch action {
	case api.RolloutPause, api.RolloutResume, api.RolloutCancel, api.RolloutPromote:
	default:
		return errorf(http.StatusNotFound, "no such action %q: want pause, resume, cancel or promote", clip(action))
	}
	if !ident.IsID(id) {
		return errorf(http.StatusNotFound, "deployment %q not found", clip(id))
	}
	d, err := a.deploy.Control(r.Context(), c.user.TenantID, id, action, c.user.Email, c.now, c.audit)
	if err != nil {
		return notFound(err, "deployment %s not found", id)
	}
	return writeJSON(w, http.StatusOK, d)
}

// EvaluateRollouts runs the health gates of the rolling deployments (deploy.Service.Evaluate);
// the server calls it periodically.
func (a *API) EvaluateRollouts(ctx context.Context) error { return a.deploy.Evaluate(ctx, a.now()) }

// withProgress gives each deployment that is its group's newest its progress.
func withProgress(tx *store.Tx, tenantID ident.TenantID, ds []api.Deployment) error {
	latest := map[ident.GroupID]ident.DeploymentID{}
	for i, d := range ds {
		id, ok := latest[d.GroupID]
		if !ok {
			l, err := tx.LatestDeployment(tenantID, d.GroupID)
			if err != nil {
				return err
			}
			id = l.ID
			latest[d.GroupID] = id
		}
		if id != d.ID {
			continue
		}
		p, err := tx.DeploymentProgress(tenantID, d.GroupID, d.CreatedAt)
		if err != nil {
			return err
		}
		ds[i].Progress = &p
	}
	return nil
}
