package httpapi

import (
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

func (a *API) claimDevices(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.ClaimDevicesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.DeviceIDs) == 0 || len(req.DeviceIDs) > api.MaxClaimBatch {
		return errorf(http.StatusBadRequest, "device_ids: want 1 to %d device IDs, got %d", api.MaxClaimBatch, len(req.DeviceIDs))
	}
	ids := make([]ident.DeviceID, len(req.DeviceIDs))
	for i, s := range req.DeviceIDs {
		id, err := ident.ParseDeviceID(s)
		if err != nil {
			return errorf(http.StatusBadRequest, "device_ids[%d]: %v", i, err)
		}
		ids[i] = id
	}
	var claimed []api.Device
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if claimed, err = tx.ClaimDevices(c.user.TenantID, ids, c.now); err != nil {
			return err
		}
		for _, d := range claimed {
			if err := c.audit(tx, c.user.TenantID, "device.claim", "device/"+d.ID.String(), ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.ClaimDevicesResponse{Devices: nonNil(claimed)})
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	f := store.DeviceFilter{Limit: limit + 1}
	if tok := q.Get("page_token"); tok != "" {
		if f.After, err = ident.ParseDeviceID(tok); err != nil {
			return errorf(http.StatusBadRequest, "invalid page_token")
		}
	}
	var list api.DeviceList
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		if ref := q.Get("product"); ref != "" {
			p, err := tx.Product(c.user.TenantID, ref)
			if err != nil {
				return notFound(err, "product %q not found", clip(ref))
			}
			f.ProductID = p.ID
		}
		if ref := q.Get("device_group"); ref != "" {
			g, err := tx.Group(c.user.TenantID, ref)
			if err != nil {
				return notFound(err, "device group %q not found", clip(ref))
			}
			f.GroupID = g.ID
		}
		var err error
		if list.Devices, err = tx.Devices(c.user.TenantID, f); err != nil {
			return err
		}
		return withUpdates(tx, c.user.TenantID, list.Devices)
	})
	if err != nil {
		return err
	}
	if len(list.Devices) > limit {
		list.Devices = list.Devices[:limit]
		list.NextPageToken = list.Devices[limit-1].ID.String()
	}
	list.Devices = nonNil(list.Devices)
	return writeJSON(w, http.StatusOK, list)
}

// deviceRef parses the {device} path value; a malformed ID cannot name any device, so it is a 404
// like any other unknown device.
func deviceRef(r *http.Request) (ident.DeviceID, error) {
	s := r.PathValue("device")
	id, err := ident.ParseDeviceID(s)
	if err != nil {
		return "", errorf(http.StatusNotFound, "device %q not found: %v", clip(s), err)
	}
	return id, nil
}

func (a *API) showDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	var d api.Device
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return err
		}
		ds := []api.Device{d}
		err = withUpdates(tx, c.user.TenantID, ds)
		d = ds[0]
		return err
	})
	if err != nil {
		return notFound(err, "device %s not found", id)
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) updateDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	var req api.UpdateDeviceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	var d api.Device
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return notFound(err, "device %s not found", id)
		}
		if req.DeviceGroupID == nil || *req.DeviceGroupID == d.GroupID {
			return nil
		}
		detail := "no device group"
		if gid := *req.DeviceGroupID; gid != "" {
			g, err := tx.Group(c.user.TenantID, gid)
			if err != nil {
				return notFound(err, "device group %q not found", clip(gid))
			}
			detail = "device group " + g.FullName()
		}
		if err := tx.SetDeviceGroup(c.user.TenantID, id, *req.DeviceGroupID); err != nil {
			return err
		}
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "device.update", "device/"+id.String(), detail)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// revokeDevice revokes a device for good: it gets no certificate and no update again.
func (a *API) revokeDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	var d api.Device
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return notFound(err, "device %s not found", id)
		}
		if d.State == api.DeviceRevoked {
			return nil
		}
		if err := tx.RevokeDevice(c.user.TenantID, id, c.now); err != nil {
			return err
		}
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "device.revoke", "device/"+id.String(), "")
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.listChain(w, r, c.user.TenantID)
}
