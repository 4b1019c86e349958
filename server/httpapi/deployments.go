package httpapi

import (
	"net/http"

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
	dep, err := a.deploy.Create(r.Context(), deploy.Request{TenantID: c.user.TenantID, GroupID: req.DeviceGroupID,
		ImageIDs: req.ImageIDs, By: c.user.Email, At: c.now}, c.audit)
	if err != nil {
		return err
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

func (a *API) showDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	id := ident.DeploymentID(r.PathValue("deployment"))
	if !ident.IsID(id) {
		return errorf(http.StatusNotFound, "deployment %q not found", clip(id))
	}
	var d api.Deployment
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if d, err = tx.Deployment(c.user.TenantID, id); err != nil {
			return notFound(err, "deployment %s not found", id)
		}
		ds := []api.Deployment{d}
		err = withProgress(tx, c.user.TenantID, ds)
		d = ds[0]
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

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
