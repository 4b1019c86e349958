package httpapi

import (
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
)

// claimDevices claims devices into the caller's tenant, each with its claim code, or by ID
// alone where the operator allows the tenant that, and into one of the tenant's device groups
// if the request names one. Only the code's verifier is kept; a device whose evidence proves
// another code has its claim dropped when it attests (package attest).
func (a *API) claimDevices(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.ClaimDevicesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	claims, err := parseClaims(req)
	if err != nil {
		return err
	}
	var claimed []api.Device
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		t, err := tx.Tenant(c.user.TenantID)
		if err != nil {
			return err
		}
		for _, cl := range claims {
			if cl.Verifier == nil && !t.AllowClaimWithoutCode {
				return errorf(http.StatusForbidden, "device %s: tenant %s claims devices with their claim codes only; "+
					"give the code that 'rampart-device id --claim-code' prints or the device's label shows", cl.ID, t.Name)
			}
		}
		var g api.DeviceGroup
		if req.DeviceGroupID != "" {
			// Another tenant's group is not found, as an unknown one.
			if g, err = tx.Group(c.user.TenantID, req.DeviceGroupID); err != nil {
				return notFound(err, "device group %q not found", clip(req.DeviceGroupID))
			}
		}
		if claimed, err = tx.ClaimDevicesIntoGroup(c.user.TenantID, g.ID, claims, c.now); err != nil {
			return err
		}
		entries := make([]api.AuditEntry, len(claimed))
		for i, d := range claimed {
			detail := "with its claim code"
			if !d.ClaimedWithCode {
				detail = "without a claim code"
			}
			if g.ID != "" {
				claimed[i].ProductID, claimed[i].ProductName, claimed[i].GroupName = g.ProductID, g.ProductName, g.Name
				detail += ", into device group " + g.FullName()
			}
			entries[i] = c.auditEntry(c.user.TenantID, "device.claim", "device/"+d.ID.String(), detail)
		}
		// One entry a device, appended as a batch: a claim of a thousand devices takes the
		// chain's head once.
		_, err = tx.AppendAudits(entries)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, api.ClaimDevicesResponse{Devices: nonNil(claimed)})
}

// parseClaims checks a claim request: device_ids or devices, 1 to api.MaxClaimBatch of them,
// each ID and code well-formed.
func parseClaims(req api.ClaimDevicesRequest) ([]store.Claim, error) {
	n := len(req.DeviceIDs) + len(req.Devices)
	if len(req.DeviceIDs) > 0 && len(req.Devices) > 0 {
		return nil, errorf(http.StatusBadRequest, "give devices or device_ids, not both")
	}
	if n == 0 || n > api.MaxClaimBatch {
		return nil, errorf(http.StatusBadRequest, "devices: want 1 to %d devices, got %d", api.MaxClaimBatch, n)
	}
	claims := make([]store.Claim, 0, n)
	for i, s := range req.DeviceIDs {
		id, err := ident.ParseDeviceID(s)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "device_ids[%d]: %v", i, err)
		}
		claims = append(claims, store.Claim{ID: id})
	}
	for i, d := range req.Devices {
		id, err := ident.ParseDeviceID(d.DeviceID)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "devices[%d]: %v", i, err)
		}
		cl := store.Claim{ID: id}
		if d.ClaimCode != "" {
			code, err := ident.ParseClaimCode(d.ClaimCode)
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "devices[%d] (%s): %v", i, id, err)
			}
			v := code.Verifier()
			cl.Verifier = &v
		}
		claims = append(claims, cl)
	}
	return claims, nil
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	f := store.DeviceFilter{Limit: limit + 1}
	if err := deviceFilter(r, c.now, &f); err != nil {
		return err
	}
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
		if ref := ident.GroupID(q.Get("device_group")); ref != "" {
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

// deviceFilter reads the attestation, runtime, seen_since and not_seen_since filters of a
// device listing; the times are what report.ParseSince reads (7d, 24h, an RFC 3339 time, a date).
func deviceFilter(r *http.Request, now time.Time, f *store.DeviceFilter) error {
	q := r.URL.Query()
	switch f.Attestation = q.Get("attestation"); f.Attestation {
	case "", api.AttestPass, api.AttestFail, store.AttestNever:
	default:
		return errorf(http.StatusBadRequest, "invalid attestation %q: want %s, %s or %s", clip(f.Attestation),
			api.AttestPass, api.AttestFail, store.AttestNever)
	}
	if f.RuntimeSHA512 = strings.ToLower(q.Get("runtime")); f.RuntimeSHA512 != "" && !isHex(f.RuntimeSHA512, 128) {
		return errorf(http.StatusBadRequest, "invalid runtime %q: want the runtime's SHA-512 in hex", clip(f.RuntimeSHA512))
	}
	for name, t := range map[string]*time.Time{"seen_since": &f.SeenSince, "not_seen_since": &f.NotSeenSince} {
		if s := q.Get(name); s != "" {
			var err error
			if *t, err = report.ParseSince(s, now); err != nil {
				return errorf(http.StatusBadRequest, "invalid %s: %v", name, err)
			}
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
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
		if err := a.ca.UpdateCRLs(r.Context(), tx, c.user.TenantID); err != nil {
			return err
		}
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "device.revoke", "device/"+id.String(), "")
	})
	a.certs.invalidate() // after the commit, so that no request caches what it read before
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// releaseDevice takes a device out of the tenant: its certificates are revoked (and listed in
// the tenant's CRLs), and it can be claimed again, by any tenant, with its claim code.
func (a *API) releaseDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := deviceRef(r)
	if err != nil {
		return err
	}
	var d api.Device
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		if d, err = tx.Device(c.user.TenantID, id); err != nil {
			return notFound(err, "device %s not found", id)
		}
		if err := tx.ReleaseDevice(c.user.TenantID, id, c.now); err != nil {
			return err
		}
		if err := a.ca.UpdateCRLs(r.Context(), tx, c.user.TenantID); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "device.release", "device/"+id.String(), "")
	})
	a.certs.invalidate() // after the commit, so that no request caches what it read before
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.listChain(w, r, c.user.TenantID)
}
