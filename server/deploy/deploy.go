// Package deploy provides deployments: the rules for a set of a tenant's application images
// deployed to one of its device groups, and their publication as the group's signed update
// metadata (DESIGN section 3, "Deployment").
//
// A deployment carries 1 to [api.MaxDeploymentImages] application images, at most one of each
// component; the runtime comes from the group's OS feed, never from a deployment. The group's
// newest deployment is what its devices converge to, so creating one re-publishes the group's
// TUF repository in the same transaction that records it: a deployment is never recorded
// without its metadata, nor published without its record.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// Error is a deployment the rules refuse. Its text names only what the caller sent, so it is
// safe to show.
type Error struct {
	msg      string
	conflict bool
}

func (e *Error) Error() string { return e.msg }

// Conflict reports whether the request is refused because of the deployment's or group's
// state (another rollout under way, an action its state does not allow) rather than its
// content.
func (e *Error) Conflict() bool { return e.conflict }

func errorf(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }

func conflictf(format string, args ...any) error {
	return &Error{msg: fmt.Sprintf(format, args...), conflict: true}
}

// Audit appends an entry to the tenant's audit log in tx, on behalf of whoever asked.
type Audit func(tx *store.Tx, tenantID ident.TenantID, action, target, detail string) error

// Service creates deployments.
type Service struct {
	store *store.Store
	tuf   *tufrepo.Service
}

// New returns the deployment service over a store and the TUF repositories it publishes.
func New(st *store.Store, tuf *tufrepo.Service) *Service { return &Service{store: st, tuf: tuf} }

// Request is a deployment to create.
type Request struct {
	TenantID ident.TenantID
	GroupID  ident.GroupID
	ImageIDs []ident.ImageID
	By       string    // the e-mail of who creates it
	At       time.Time // when
	// Waves, if not empty, roll it out in waves (api.Rollout), with the health gate's
	// settings that follow.
	Waves          []int
	WaveWait       time.Duration
	MaxFailure     float64 // percent
	MinDevices     int
	RollbackOnHalt bool
	Urgent         bool // installed outside the group's maintenance window too
}

// Create checks the request, records the deployment and publishes the group's update metadata
// in one transaction, with an audit entry written through audit. A group or image the tenant
// does not have is [store.ErrNotFound]; a request the rules refuse is an [*Error].
func (s *Service) Create(ctx context.Context, req Request, audit Audit) (api.Deployment, error) {
	if err := checkImageIDs(req.ImageIDs); err != nil {
		return api.Deployment{}, err
	}
	if req.GroupID == "" {
		return api.Deployment{}, errorf("device_group_id: required")
	}
	if err := checkRollout(req); err != nil {
		return api.Deployment{}, err
	}
	// The TUF keys are loaded (made on first use) outside the transaction that signs with them.
	keys, err := s.tuf.PrepareGroup(ctx, req.TenantID)
	if err != nil {
		return api.Deployment{}, err
	}
	dep := api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: req.TenantID, GroupID: req.GroupID,
		ImageIDs: req.ImageIDs, CreatedAt: req.At, CreatedBy: req.By, Urgent: req.Urgent}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		g, err := tx.Group(req.TenantID, req.GroupID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("device group %q %w", clip(req.GroupID), store.ErrNotFound)
		} else if err != nil {
			return err
		}
		images, err := applications(tx, req.TenantID, req.ImageIDs)
		if err != nil {
			return err
		}
		ro, err := newRollout(tx, req)
		if err != nil {
			return err
		}
		dep.Rollout = ro
		if err := tx.AddDeployment(dep); err != nil {
			return err
		}
		dep.GroupName = g.FullName()
		if err := s.publish(ctx, tx, keys, dep, images); err != nil {
			return err
		}
		detail := "device group " + g.FullName() + ": " + joinIDs(dep.ImageIDs)
		if dep.Urgent {
			detail += "; urgent"
		}
		if len(req.Waves) > 0 {
			detail += fmt.Sprintf("; waves %s, wave wait %s, max failure %g%%, min devices %d, rollback on halt %t",
				wavesText(req.Waves), req.WaveWait, req.MaxFailure, req.MinDevices, req.RollbackOnHalt)
		}
		return audit(tx, req.TenantID, "deployment.create", "deployment/"+string(dep.ID), detail)
	})
	if err == nil {
		dep.Rollout.Revision = 1
	}
	return dep, err
}

// checkImageIDs checks the list's size and that it names each image once, by a well-formed ID.
func checkImageIDs(ids []ident.ImageID) error {
	if n := len(ids); n == 0 || n > api.MaxDeploymentImages {
		return errorf("image_ids: want 1 to %d images, got %d", api.MaxDeploymentImages, n)
	}
	seen := make(map[ident.ImageID]bool, len(ids))
	for i, id := range ids {
		if !ident.IsID(id) {
			return errorf("image_ids[%d]: %q is not an image ID (a lowercase UUID)", i, clip(id))
		}
		if seen[id] {
			return errorf("image_ids: image %s is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// applications loads the tenant's images by ID, each of which must be an application and of a
// component no other image in the list is of.
func applications(tx *store.Tx, tenantID ident.TenantID, ids []ident.ImageID) ([]api.Image, error) {
	images := make([]api.Image, len(ids))
	byComponent := make(map[ident.ComponentID]api.Image, len(ids))
	for i, id := range ids {
		im, err := tx.Image(tenantID, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("image %s %w", id, store.ErrNotFound)
		} else if err != nil {
			return nil, err
		}
		if im.Type != api.ImageApplication {
			return nil, errorf("image %s is a %s image; a deployment carries applications only (the runtime comes from the group's OS feed)", id, im.Type)
		}
		if prev, dup := byComponent[im.ComponentID]; dup {
			return nil, errorf("images %s and %s are both of component %s (%s); a deployment carries one image of each component",
				prev.ID, im.ID, im.ComponentID, im.Name)
		}
		byComponent[im.ComponentID] = im.Image
		images[i] = im.Image
	}
	return images, nil
}

// clip shortens what a caller sent for an error message.
func clip[T ~string](s T) string {
	if len(s) > 70 {
		return string(s[:70]) + "…"
	}
	return string(s)
}

// joinIDs lists image IDs for an audit entry.
func joinIDs(ids []ident.ImageID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(id))
	}
	return b.String()
}
