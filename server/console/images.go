package console

import (
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/ident"
)

func (c *Console) images(w http.ResponseWriter, r *http.Request, s *request) error {
	ims, err := s.api.Images(s.ctx, client.ImageQuery{})
	if err != nil {
		return err
	}
	sortBy(r, ims, map[string]func(a, b api.Image) int{
		"name":     by(func(i api.Image) string { return strings.ToLower(i.Name) }),
		"version":  by(func(i api.Image) string { return i.Version }),
		"type":     by(func(i api.Image) string { return i.Type }),
		"uploaded": by(func(i api.Image) int64 { return i.UploadedAt.UnixMicro() }),
	})
	c.render(w, r, s, http.StatusOK, "images", "Images", ims)
	return nil
}

type deploymentsData struct {
	Deployments []api.Deployment
	Images      []api.Image
	Names       map[ident.ImageID]string
	Groups      []api.DeviceGroup
}

func (c *Console) deployments(w http.ResponseWriter, r *http.Request, s *request) error {
	ds, err := s.api.Deployments(s.ctx, "")
	if err != nil {
		return err
	}
	ims, err := s.api.Images(s.ctx, client.ImageQuery{Type: api.ImageApplication})
	if err != nil {
		return err
	}
	gs, err := s.api.Groups(s.ctx, "", "")
	if err != nil {
		return err
	}
	names := map[ident.ImageID]string{}
	for _, im := range ims {
		names[im.ID] = im.Name + " " + im.Version
	}
	sortBy(r, ds, map[string]func(a, b api.Deployment) int{
		"group":   by(func(d api.Deployment) string { return d.GroupName }),
		"created": by(func(d api.Deployment) int64 { return d.CreatedAt.UnixMicro() }),
	})
	c.render(w, r, s, http.StatusOK, "deployments", "Deployments", deploymentsData{Deployments: ds, Images: ims, Names: names, Groups: gs})
	return nil
}

func (c *Console) createDeployment(w http.ResponseWriter, r *http.Request, s *request) error {
	var ids []ident.ImageID
	for _, id := range r.PostForm["image"] {
		ids = append(ids, ident.ImageID(id))
	}
	d, err := s.api.CreateDeployment(s.ctx, api.CreateDeploymentRequest{DeviceGroupID: ident.GroupID(r.PostFormValue("group")), ImageIDs: ids})
	if err != nil {
		return err
	}
	return c.done(w, r, s, "/deployments", "Deployment created for "+d.GroupName+".")
}
