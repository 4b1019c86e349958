package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Deployment routes. A deployment is a set of the tenant's application images for one of its
// device groups; the group's newest deployment is what its devices converge to, and creating one
// re-publishes the group's TUF repository in the same transaction.

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateDeploymentRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if n := len(req.ImageIDs); n == 0 || n > api.MaxDeploymentImages {
		return errorf(http.StatusBadRequest, "image_ids: want 1 to %d images, got %d", api.MaxDeploymentImages, n)
	}
	seen := make(map[string]bool, len(req.ImageIDs))
	for i, id := range req.ImageIDs {
		if !ident.IsID(id) {
			return errorf(http.StatusBadRequest, "image_ids[%d]: %q is not an image ID (a lowercase UUID)", i, clip(id))
		}
		if seen[id] {
			return errorf(http.StatusBadRequest, "image_ids: image %s is listed twice", id)
		}
		seen[id] = true
	}
	if req.DeviceGroupID == "" {
		return errorf(http.StatusBadRequest, "device_group_id: required")
	}
	tenantID := c.user.TenantID
	// The TUF keys are loaded (made on first use) outside the transaction that signs with them.
	if err := a.tuf.Prepare(r.Context(), tenantID); err != nil {
		return err
	}
	dep := api.Deployment{ID: ident.NewID(), TenantID: tenantID, GroupID: req.DeviceGroupID,
		ImageIDs: req.ImageIDs, CreatedAt: c.now, CreatedBy: c.user.Email}
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		g, err := tx.Group(tenantID, req.DeviceGroupID)
		if err != nil {
			return notFound(err, "device group %q not found", clip(req.DeviceGroupID))
		}
		images := make([]api.Image, len(req.ImageIDs))
		byComponent := make(map[string]api.Image, len(req.ImageIDs))
		for i, id := range req.ImageIDs {
			im, err := tx.Image(tenantID, id)
			if err != nil {
				return notFound(err, "image %s not found", id)
			}
			if im.Type != api.ImageApplication {
				return errorf(http.StatusBadRequest, "image %s is a %s image; a deployment carries applications only (the runtime comes from the group's OS feed)", id, im.Type)
			}
			if prev, dup := byComponent[im.ComponentID]; dup {
				return errorf(http.StatusBadRequest, "images %s and %s are both of component %s (%s); a deployment carries one image of each component",
					prev.ID, im.ID, im.ComponentID, im.Name)
			}
			byComponent[im.ComponentID] = im.Image
			images[i] = im.Image
		}
		if err := tx.AddDeployment(dep); err != nil {
			return err
		}
		dep.GroupName = g.FullName()
		if err := a.tuf.PublishGroup(r.Context(), tx, tenantID, g.ID, images); err != nil {
			return fmt.Errorf("publish device group %s: %w", g.ID, err)
		}
		return c.audit(tx, tenantID, "deployment.create", "deployment/"+dep.ID,
			"device group "+g.FullName()+": "+strings.Join(dep.ImageIDs, ", "))
	})
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
		groupID := q.Get("device_group")
		if groupID != "" {
			if _, err := tx.Group(c.user.TenantID, groupID); err != nil {
				return notFound(err, "device group %q not found", clip(groupID))
			}
		}
		var err error
		ds, err = tx.Deployments(c.user.TenantID, groupID, limit)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(ds))
}

func (a *API) showDeployment(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("deployment")
	if !ident.IsID(id) {
		return errorf(http.StatusNotFound, "deployment %q not found", clip(id))
	}
	var d api.Deployment
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		d, err = tx.Deployment(c.user.TenantID, id)
		return err
	})
	if err != nil {
		return notFound(err, "deployment %s not found", id)
	}
	return writeJSON(w, http.StatusOK, d)
}
