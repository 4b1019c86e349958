package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/store"
)

func (a *API) whoami(w http.ResponseWriter, r *http.Request, c *call) error {
	who := api.Whoami{UserID: c.user.ID, Email: c.user.Email, TenantID: c.user.TenantID,
		Role: c.user.Role, Operator: c.user.Operator}
	if c.user.TenantID != "" {
		err := a.store.View(r.Context(), func(tx *store.Tx) error {
			t, err := tx.Tenant(c.user.TenantID)
			who.TenantName = t.Name
			return err
		})
		if err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, who)
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateTenantRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ident.ValidateName(req.Name); err != nil {
		return errorf(http.StatusBadRequest, "tenant name: %v", err)
	}
	if err := ident.ValidateEmail(req.AdminEmail); err != nil {
		return errorf(http.StatusBadRequest, "admin email: %v", err)
	}
	if err := validQuota(req.ImageQuota); err != nil {
		return err
	}
	var resp api.CreateTenantResponse
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		t := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: req.Name, CreatedAt: c.now,
			AllowClaimWithoutCode: req.AllowClaimWithoutCode, ImageQuota: req.ImageQuota}
		if err := tx.CreateTenant(t); err != nil {
			return err
		}
		// The operator's own chain records it too, where no tenant can rewrite it.
		if err := c.audit(tx, "", "tenant.create", "tenant/"+string(t.ID), tenantDetail(t)); err != nil {
			return err
		}
		if t.AllowClaimWithoutCode {
			if err := c.audit(tx, t.ID, "tenant.allow-claim-without-code", "tenant/"+string(t.ID), "true"); err != nil {
				return err
			}
		}
		admin, _, token, err := auth.NewUser(tx, api.User{TenantID: t.ID, Email: req.AdminEmail,
			Role: api.RoleAdministrator, CreatedAt: c.now}, 0)
		if err != nil {
			return err
		}
		resp = api.CreateTenantResponse{Tenant: t, Admin: admin, Token: token}
		if err := c.audit(tx, t.ID, "tenant.create", "tenant/"+string(t.ID), t.Name+quotaDetail(t.ImageQuota)); err != nil {
			return err
		}
		return c.audit(tx, t.ID, "user.add", "user/"+admin.ID, admin.Email+" as "+string(admin.Role))
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request, c *call) error {
	tenants := []api.Tenant{}
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		if c.user.Operator {
			var err error
			tenants, err = tx.Tenants()
			return err
		}
		t, err := tx.Tenant(c.user.TenantID)
		tenants = append(tenants, t)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, tenants)
}

func (a *API) showTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("tenant")
	var t api.Tenant
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if ident.IsID(ref) {
			t, err = tx.Tenant(ident.TenantID(ref))
		} else {
			t, err = tx.TenantByName(ref)
		}
		return err
	})
	if err == nil && !c.user.Operator && t.ID != c.user.TenantID {
		err = store.ErrNotFound // another tenant's: not found, never forbidden
	}
	if err != nil {
		return notFound(err, "tenant %q not found", ref)
	}
	return writeJSON(w, http.StatusOK, t)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	var users []api.User
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		users, err = tx.Users(c.user.TenantID)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(users))
}

func (a *API) addUser(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.AddUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ident.ValidateEmail(req.Email); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if !req.Role.Valid() {
		return errorf(http.StatusBadRequest, "invalid role %q: want Administrator, Contributor or Reader", clip(string(req.Role)))
	}
	lifetime, err := lifetime(req.ExpiresIn)
	if err != nil {
		return err
	}
	var resp api.AddUserResponse
	err = a.store.Update(r.Context(), func(tx *store.Tx) error {
		u, t, secret, err := auth.NewUser(tx, api.User{TenantID: c.user.TenantID, Email: req.Email,
			Role: req.Role, CreatedAt: c.now}, lifetime)
		if err != nil {
			return err
		}
		resp = api.AddUserResponse{User: u, Token: secret, TokenID: t.ID, ExpiresAt: t.ExpiresAt}
		return c.audit(tx, c.user.TenantID, "user.add", "user/"+u.ID, u.Email+" as "+string(u.Role)+expiryDetail(t))
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("user")
	var removed api.User
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		u, err := tx.User(c.user.TenantID, ref)
		if err != nil {
			return err
		}
		if u.Role == api.RoleAdministrator {
			users, err := tx.Users(c.user.TenantID)
			if err != nil {
				return err
			}
			admins := 0
			for _, o := range users {
				if o.Role == api.RoleAdministrator {
					admins++
				}
			}
			if admins == 1 {
				return errorf(http.StatusConflict, "%s is the tenant's last Administrator; add another Administrator first", u.Email)
			}
		}
		if err := tx.DeleteUser(c.user.TenantID, u.ID); err != nil {
			return err
		}
		removed = u
		return c.audit(tx, c.user.TenantID, "user.remove", "user/"+u.ID, u.Email)
	})
	if err != nil {
		return notFound(err, "user %q not found", ref)
	}
	return writeJSON(w, http.StatusOK, removed)
}

// updateTenant changes the operator's settings of a tenant: its image quota, and whether its
// users may claim devices by ID alone, without their claim codes. Each change is audited in the
// tenant's chain and in the operator's.
func (a *API) updateTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("tenant")
	var req api.UpdateTenantRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.ImageQuota == nil && req.AllowClaimWithoutCode == nil {
		return errorf(http.StatusBadRequest, "nothing to change: give image_quota or allow_claim_without_code")
	}
	if req.ImageQuota != nil {
		if err := validQuota(*req.ImageQuota); err != nil {
			return err
		}
	}
	var t api.Tenant
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if ident.IsID(ref) {
			t, err = tx.Tenant(ident.TenantID(ref))
		} else {
			t, err = tx.TenantByName(ref)
		}
		if err != nil {
			return err
		}
		detail, err := applyTenantUpdate(tx, &t, req)
		if err != nil {
			return err
		}
		if err := c.audit(tx, "", "tenant.update", "tenant/"+string(t.ID), t.Name+" "+detail); err != nil {
			return err
		}
		return c.audit(tx, t.ID, "tenant.update", "tenant/"+string(t.ID), detail)
	})
	if err != nil {
		return notFound(err, "tenant %q not found", clip(ref))
	}
	return writeJSON(w, http.StatusOK, t)
}

// applyTenantUpdate stores the settings req changes and returns them as the audit's detail.
func applyTenantUpdate(tx *store.Tx, t *api.Tenant, req api.UpdateTenantRequest) (string, error) {
	var detail []string
	if req.ImageQuota != nil {
		if err := tx.SetImageQuota(t.ID, *req.ImageQuota); err != nil {
			return "", err
		}
		t.ImageQuota = *req.ImageQuota
		detail = append(detail, "image_quota="+fmt.Sprint(t.ImageQuota))
	}
	if req.AllowClaimWithoutCode != nil {
		if err := tx.SetAllowClaimWithoutCode(t.ID, *req.AllowClaimWithoutCode); err != nil {
			return "", err
		}
		t.AllowClaimWithoutCode = *req.AllowClaimWithoutCode
		detail = append(detail, "allow_claim_without_code="+strconv.FormatBool(t.AllowClaimWithoutCode))
	}
	return strings.Join(detail, " "), nil
}

// MaxImageQuota bounds a tenant's image quota: 1 PiB, far above any disk, far below overflow.
const MaxImageQuota = 1 << 50

func validQuota(q int64) error {
	if q < 0 || q > MaxImageQuota {
		return errorf(http.StatusBadRequest, "invalid image quota %d: want 0 (no limit) to %d bytes", q, int64(MaxImageQuota))
	}
	return nil
}

func tenantDetail(t api.Tenant) string { return t.Name + quotaDetail(t.ImageQuota) }

func quotaDetail(q int64) string {
	if q == 0 {
		return ""
	}
	return fmt.Sprintf(", image_quota=%d", q)
}
