package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// notFound replaces a store.ErrNotFound with a 404 whose message names what the caller asked
// for; other errors pass through.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, format, args...)
	}
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func validateDescription(s string) error {
	if len(s) > api.MaxDescriptionLen || strings.ContainsAny(s, "\x00\r\n") {
		return errorf(http.StatusBadRequest, "invalid description: at most %d characters on one line", api.MaxDescriptionLen)
	}
	if err := safetext.Check(s); err != nil {
		return errorf(http.StatusBadRequest, "invalid description: %v", err)
	}
	return nil
}

func (a *API) listProducts(w http.ResponseWriter, r *http.Request, c *call) error {
	var products []api.Product
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		products, err = tx.Products(c.user.TenantID)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(products))
}

// createProduct creates a product and its five default device groups.
func (a *API) createProduct(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateProductRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := ident.ValidateName(req.Name); err != nil {
		return errorf(http.StatusBadRequest, "product name: %v", err)
	}
	if err := validateDescription(req.Description); err != nil {
		return err
	}
	p := api.Product{ID: ident.ProductID(ident.NewID()), TenantID: c.user.TenantID, Name: req.Name,
		Description: req.Description, CreatedAt: c.now}
	groups := make([]api.DeviceGroup, len(api.DefaultGroups))
	for i, g := range api.DefaultGroups {
		g.ID, g.TenantID, g.ProductID, g.ProductName, g.CreatedAt = ident.GroupID(ident.NewID()), p.TenantID, p.ID, p.Name, c.now
		groups[i] = g
	}
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		if err := tx.CreateProduct(p, groups); err != nil {
			return err
		}
		return c.audit(tx, p.TenantID, "product.create", "product/"+string(p.ID), p.Name)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, p)
}

func (a *API) showProduct(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("product")
	var p api.Product
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		p, err = tx.Product(c.user.TenantID, ref)
		return err
	})
	if err != nil {
		return notFound(err, "product %q not found", clip(ref))
	}
	return writeJSON(w, http.StatusOK, p)
}

func (a *API) deleteProduct(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := r.PathValue("product")
	var p api.Product
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if p, err = tx.Product(c.user.TenantID, ref); err != nil {
			return err
		}
		if err := tx.DeleteProduct(c.user.TenantID, p.ID); err != nil {
			return err
		}
		return c.audit(tx, p.TenantID, "product.delete", "product/"+string(p.ID), p.Name)
	})
	if errors.Is(err, store.ErrInUse) {
		return errorf(http.StatusConflict, "product %q has devices in its device groups; move them to another product first", p.Name)
	}
	if err != nil {
		return notFound(err, "product %q not found", clip(ref))
	}
	return writeJSON(w, http.StatusOK, p)
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	productRef, name := q.Get("product"), q.Get("name")
	groups := []api.DeviceGroup{}
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var productID ident.ProductID
		if productRef != "" {
			p, err := tx.Product(c.user.TenantID, productRef)
			if err != nil {
				return notFound(err, "product %q not found", clip(productRef))
			}
			productID = p.ID
		}
		all, err := tx.Groups(c.user.TenantID, productID)
		for _, g := range all {
			if name == "" || ident.NameKey(g.Name) == ident.NameKey(name) {
				groups = append(groups, g)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, groups)
}

func validateGroupSettings(feed, policy string) error {
	if !api.ValidFeed(feed) {
		return errorf(http.StatusBadRequest, "invalid OS feed %q: want %s or %s", clip(feed), api.FeedRetail, api.FeedRetailEval)
	}
	if !api.ValidPolicy(policy) {
		return errorf(http.StatusBadRequest, "invalid update policy %q: want %s, %s or %s",
			clip(policy), api.PolicyAll, api.PolicyRuntimeOnly, api.PolicyNone)
	}
	return nil
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	var req api.CreateDeviceGroupRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.OSFeed == "" {
		req.OSFeed = api.FeedRetail
	}
	if req.UpdatePolicy == "" {
		req.UpdatePolicy = api.PolicyAll
	}
	if err := ident.ValidateName(req.Name); err != nil {
		return errorf(http.StatusBadRequest, "device group name: %v", err)
	}
	if err := validateDescription(req.Description); err != nil {
		return err
	}
	if err := validateGroupSettings(req.OSFeed, req.UpdatePolicy); err != nil {
		return err
	}
	if _, _, err := api.ParseWindow(req.MaintenanceWindow); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	var g api.DeviceGroup
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		p, err := tx.Product(c.user.TenantID, req.Product)
		if err != nil {
			return notFound(err, "product %q not found", clip(req.Product))
		}
		g = api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: p.TenantID, ProductID: p.ID, ProductName: p.Name,
			Name: req.Name, Description: req.Description, OSFeed: req.OSFeed,
			UpdatePolicy: req.UpdatePolicy, AllowCrashDumps: req.AllowCrashDumps, RequireTPM: req.RequireTPM,
			MaintenanceWindow: req.MaintenanceWindow, CreatedAt: c.now}
		if err := tx.CreateGroup(g); err != nil {
			return err
		}
		detail := g.FullName()
		if g.RequireTPM {
			detail += " require_tpm=true"
		}
		if g.MaintenanceWindow != "" {
			detail += fmt.Sprintf(" maintenance_window=%q", g.MaintenanceWindow)
		}
		return c.audit(tx, g.TenantID, "device-group.create", "device-group/"+string(g.ID), detail)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, g)
}

func (a *API) showGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := ident.GroupID(r.PathValue("group"))
	var g api.DeviceGroup
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		g, err = tx.Group(c.user.TenantID, ref)
		return err
	})
	if err != nil {
		return notFound(err, "device group %q not found", clip(ref))
	}
	return writeJSON(w, http.StatusOK, g)
}

func (a *API) updateGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := ident.GroupID(r.PathValue("group"))
	var req api.UpdateDeviceGroupRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	var g api.DeviceGroup
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if g, err = tx.Group(c.user.TenantID, ref); err != nil {
			return notFound(err, "device group %q not found", clip(ref))
		}
		var changes []string
		set := func(field string, dst *string, src *string) {
			if src != nil && *src != *dst {
				*dst = *src
				changes = append(changes, fmt.Sprintf("%s=%q", field, *src))
			}
		}
		set("name", &g.Name, req.Name)
		set("description", &g.Description, req.Description)
		set("os_feed", &g.OSFeed, req.OSFeed)
		set("update_policy", &g.UpdatePolicy, req.UpdatePolicy)
		if req.MaintenanceWindow != nil {
			if _, _, err := api.ParseWindow(*req.MaintenanceWindow); err != nil {
				return errorf(http.StatusBadRequest, "%v", err)
			}
		}
		set("maintenance_window", &g.MaintenanceWindow, req.MaintenanceWindow)
		if req.AllowCrashDumps != nil && *req.AllowCrashDumps != g.AllowCrashDumps {
			g.AllowCrashDumps = *req.AllowCrashDumps
			changes = append(changes, fmt.Sprintf("allow_crash_dumps=%t", g.AllowCrashDumps))
		}
		if req.RequireTPM != nil && *req.RequireTPM != g.RequireTPM {
			g.RequireTPM = *req.RequireTPM
			changes = append(changes, fmt.Sprintf("require_tpm=%t", g.RequireTPM))
		}
		if err := ident.ValidateName(g.Name); err != nil {
			return errorf(http.StatusBadRequest, "device group name: %v", err)
		}
		if err := validateDescription(g.Description); err != nil {
			return err
		}
		if err := validateGroupSettings(g.OSFeed, g.UpdatePolicy); err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if err := tx.UpdateGroup(g); err != nil {
			return err
		}
		return c.audit(tx, g.TenantID, "device-group.update", "device-group/"+string(g.ID), strings.Join(changes, " "))
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := ident.GroupID(r.PathValue("group"))
	var g api.DeviceGroup
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if g, err = tx.Group(c.user.TenantID, ref); err != nil {
			return notFound(err, "device group %q not found", clip(ref))
		}
		if err := tx.DeleteGroup(c.user.TenantID, g.ID); err != nil {
			return err
		}
		return c.audit(tx, g.TenantID, "device-group.delete", "device-group/"+string(g.ID), g.FullName())
	})
	if errors.Is(err, store.ErrInUse) {
		return errorf(http.StatusConflict, "device group %q has devices; move them to another group first", g.FullName())
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}
