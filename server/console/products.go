package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

func (c *Console) products(w http.ResponseWriter, r *http.Request, s *request) error {
	ps, err := s.api.Products(s.ctx)
	if err != nil {
		return err
	}
	sortBy(r, ps, map[string]func(a, b api.Product) int{
		"name":    by(func(p api.Product) string { return strings.ToLower(p.Name) }),
		"created": by(func(p api.Product) int64 { return p.CreatedAt.UnixMicro() }),
	})
	c.render(w, r, s, http.StatusOK, "products", "Products", ps)
	return nil
}

func (c *Console) createProduct(w http.ResponseWriter, r *http.Request, s *request) error {
	p, err := s.api.CreateProduct(s.ctx, api.CreateProductRequest{Name: r.PostFormValue("name"), Description: r.PostFormValue("description")})
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/products/"+url.PathEscape(string(p.ID)), "Product "+p.Name+" created with its default device groups.")
}

type productData struct {
	Product api.Product
	Groups  []api.DeviceGroup
	Feeds   []string
	Updates []string
}

func (c *Console) product(w http.ResponseWriter, r *http.Request, s *request) error {
	p, err := s.api.Product(s.ctx, r.PathValue("product"))
	if err != nil {
		return err
	}
	gs, err := s.api.Groups(s.ctx, string(p.ID), "")
	if err != nil {
		return err
	}
	sortBy(r, gs, map[string]func(a, b api.DeviceGroup) int{
		"name": by(func(g api.DeviceGroup) string { return strings.ToLower(g.Name) }),
		"feed": by(func(g api.DeviceGroup) string { return g.OSFeed }),
	})
	c.render(w, r, s, http.StatusOK, "product", "Product "+p.Name, productData{Product: p, Groups: gs,
		Feeds: []string{api.FeedRetail, api.FeedRetailEval}, Updates: []string{api.PolicyAll, api.PolicyRuntimeOnly, api.PolicyNone}})
	return nil
}

func (c *Console) createGroup(w http.ResponseWriter, r *http.Request, s *request) error {
	g, err := s.api.CreateGroup(s.ctx, api.CreateDeviceGroupRequest{Product: r.PathValue("product"), Name: r.PostFormValue("name"),
		Description: r.PostFormValue("description"), OSFeed: r.PostFormValue("os_feed"), UpdatePolicy: r.PostFormValue("update_policy"),
		AllowCrashDumps: r.PostFormValue("allow_crash_dumps") == "on", RequireTPM: r.PostFormValue("require_tpm") == "on"})
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/products/"+url.PathEscape(string(g.ProductID)), "Device group "+g.FullName()+" created.")
}

// updateGroup changes a device group's settings: the form sends all of them.
func (c *Console) updateGroup(w http.ResponseWriter, r *http.Request, s *request) error {
	feed, policy := r.PostFormValue("os_feed"), r.PostFormValue("update_policy")
	crash, tpm := r.PostFormValue("allow_crash_dumps") == "on", r.PostFormValue("require_tpm") == "on"
	g, err := s.api.UpdateGroup(s.ctx, ident.GroupID(r.PathValue("group")), api.UpdateDeviceGroupRequest{
		OSFeed: &feed, UpdatePolicy: &policy, AllowCrashDumps: &crash, RequireTPM: &tpm})
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/products/"+url.PathEscape(string(g.ProductID)), "Device group "+g.FullName()+" updated.")
}
