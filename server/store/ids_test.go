package store_test

import (
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// TestTypedIDsRoundTrip checks that the ID types of package ident go into both databases as the
// plain strings they are, as query parameters and as scan targets, and come back unchanged.
func TestTypedIDsRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		p, groups := newProduct(t, s, tn.ID, "Toaster")
		g := groups[0]
		im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		addImages(t, s, im)
		d := api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: tn.ID, GroupID: g.ID,
			ImageIDs: []ident.ImageID{im.ID}, CreatedAt: now, CreatedBy: "admin@contoso"}
		dev := deviceID(1)
		claim(t, s, tn.ID, dev)
		update(t, s, func(tx *store.Tx) error {
			if err := tx.AddDeployment(d); err != nil {
				return err
			}
			return tx.SetDeviceGroup(tn.ID, dev, g.ID)
		})

		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Device(tn.ID, dev)
			if err != nil {
				return err
			}
			if got.TenantID != tn.ID || got.ProductID != p.ID || got.GroupID != g.ID {
				t.Errorf("device reads back tenant %q, product %q, group %q; want %q, %q, %q",
					got.TenantID, got.ProductID, got.GroupID, tn.ID, p.ID, g.ID)
			}
			gotIm, err := tx.Image(tn.ID, im.ID)
			if err != nil {
				return err
			}
			if gotIm.ID != im.ID || gotIm.TenantID != tn.ID || gotIm.ComponentID != im.ComponentID {
				t.Errorf("image reads back %q of %q, component %q; want %q of %q, component %q",
					gotIm.ID, gotIm.TenantID, gotIm.ComponentID, im.ID, tn.ID, im.ComponentID)
			}
			gotD, err := tx.Deployment(tn.ID, d.ID)
			if err != nil {
				return err
			}
			if gotD.ID != d.ID || gotD.GroupID != g.ID || len(gotD.ImageIDs) != 1 || gotD.ImageIDs[0] != im.ID {
				t.Errorf("deployment reads back %+v, want ID %q, group %q, images [%q]", gotD, d.ID, g.ID, im.ID)
			}
			return nil
		})

		// What the database holds is the plain string, and the driver takes and fills the
		// typed values directly.
		var tenant, group string
		err := s.DB().QueryRow("SELECT tenant_id, group_id FROM devices WHERE id = $1", string(dev)).Scan(&tenant, &group)
		if err != nil || tenant != string(tn.ID) || group != string(g.ID) {
			t.Errorf("devices row holds tenant %q, group %q (%v); want %q, %q", tenant, group, err, tn.ID, g.ID)
		}
		var gotTenant ident.TenantID
		var gotGroup ident.GroupID
		err = s.DB().QueryRow("SELECT tenant_id, id FROM device_groups WHERE id = $1 AND tenant_id = $2", g.ID, tn.ID).
			Scan(&gotTenant, &gotGroup)
		if err != nil || gotTenant != tn.ID || gotGroup != g.ID {
			t.Errorf("typed parameters and scan targets: got %q, %q (%v); want %q, %q", gotTenant, gotGroup, err, tn.ID, g.ID)
		}
	})
}
