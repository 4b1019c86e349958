package store_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

func newImage(tenantID ident.TenantID, component ident.ComponentID, typ string, uploaded time.Time) store.ImageRecord {
	im := store.ImageRecord{
		Image: api.Image{ID: ident.ImageID(ident.NewID()), TenantID: tenantID, ComponentID: component, Name: "Blinky",
			Version: "1.0.0", Type: typ, Size: 1234, SHA256: strings.Repeat("AB", 32), PayloadSize: 1000,
			PayloadSHA256: strings.Repeat("cd", 32), UploadedAt: uploaded, UploadedBy: "dev@example"},
		ManifestSHA256: strings.Repeat("ef", 32),
	}
	if typ == api.ImageApplication {
		im.AppManifest = json.RawMessage(`{"ComponentId":"` + component + `","Name":"Blinky"}`)
	}
	return im
}

// storedImage is im as the store returns it.
func storedImage(im store.ImageRecord) store.ImageRecord {
	im.UploadedAt = micro(im.UploadedAt)
	im.SHA256 = strings.ToLower(im.SHA256)
	return im
}

func addImages(t *testing.T, s *store.Store, ims ...store.ImageRecord) {
	t.Helper()
	update(t, s, func(tx *store.Tx) error {
		for _, im := range ims {
			if err := tx.AddImage(im); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestImagesAreImmutableAndTenantScoped(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		app := ident.NewID()
		first := newImage(a.ID, ident.ComponentID(app), api.ImageApplication, now)
		second := newImage(a.ID, ident.ComponentID(app), api.ImageApplication, now.Add(time.Minute))
		other := newImage(a.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now.Add(2*time.Minute))
		runtime := newImage(a.ID, api.RuntimeComponentID, api.ImageRuntime, now.Add(3*time.Minute))
		addImages(t, s, first, second, other, runtime)

		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Image(a.ID, first.ID)
			if err != nil {
				return err
			}
			if want := storedImage(first); !reflect.DeepEqual(got, want) {
				t.Errorf("Image:\n got %+v\nwant %+v", got, want)
			}
			_, err = tx.Image(b.ID, first.ID)
			wantErr(t, "another tenant's image", err, store.ErrNotFound)

			all, err := tx.Images(a.ID, store.ImageFilter{})
			if err != nil {
				return err
			}
			wantIDs(t, "all images, newest first", imageIDs(all), runtime.ID, other.ID, second.ID, first.ID)
			byComponent, err := tx.Images(a.ID, store.ImageFilter{ComponentID: ident.ComponentID(app)})
			if err != nil {
				return err
			}
			wantIDs(t, "one component's images", imageIDs(byComponent), second.ID, first.ID)
			apps, err := tx.Images(a.ID, store.ImageFilter{Type: api.ImageApplication, Limit: 2})
			if err != nil {
				return err
			}
			wantIDs(t, "two newest applications", imageIDs(apps), other.ID, second.ID)
			none, err := tx.Images(b.ID, store.ImageFilter{})
			if err != nil {
				return err
			}
			wantIDs(t, "tenant B's images", imageIDs(none))
			return nil
		})

		update(t, s, func(tx *store.Tx) error {
			again := newImage(a.ID, ident.ComponentID(app), api.ImageApplication, now)
			again.ID = first.ID
			wantErr(t, "an image ID again", tx.AddImage(again), store.ErrExists)
			wantErr(t, "an image of no tenant", tx.AddImage(newImage(ident.TenantID(ident.NewID()), ident.ComponentID(app), api.ImageApplication, now)), store.ErrNotFound)
			return nil
		})
		// Image IDs are the tenant's own: another tenant's upload of the same ID neither clashes
		// nor learns that it exists.
		copied := newImage(b.ID, ident.ComponentID(app), api.ImageApplication, now)
		copied.ID = first.ID
		addImages(t, s, copied)
		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Image(a.ID, first.ID)
			if err == nil && got.TenantID != a.ID {
				t.Errorf("tenant A's image %s now belongs to %s", first.ID, got.TenantID)
			}
			return err
		})
	})
}

func imageIDs(ims []api.Image) []ident.ImageID {
	ids := []ident.ImageID{}
	for _, im := range ims {
		ids = append(ids, im.ID)
	}
	return ids
}

func wantIDs[T ~string](t *testing.T, what string, got []T, want ...T) {
	t.Helper()
	if want == nil {
		want = []T{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestDeploymentsNewestFirst(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		_, groups := newProduct(t, s, a.ID, "Toaster")
		_, groupsB := newProduct(t, s, b.ID, "Kettle")
		field, prod := groups[1], groups[2]
		im1 := newImage(a.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		im2 := newImage(a.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		imB := newImage(b.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		addImages(t, s, im1, im2, imB)

		dep := func(g api.DeviceGroup, ids ...ident.ImageID) api.Deployment {
			return api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: g.TenantID, GroupID: g.ID, ImageIDs: ids,
				CreatedAt: now, CreatedBy: "admin@a"}
		}
		// Made within one microsecond: the order of creation still decides which is newest.
		d1, d2, d3 := dep(field, im1.ID), dep(prod, im2.ID, im1.ID), dep(field, im2.ID)
		update(t, s, func(tx *store.Tx) error {
			for _, d := range []api.Deployment{d1, d2, d3} {
				if err := tx.AddDeployment(d); err != nil {
					return err
				}
			}
			return nil
		})

		view(t, s, func(tx *store.Tx) error {
			got, err := tx.Deployment(a.ID, d2.ID)
			if err != nil {
				return err
			}
			want := d2
			want.CreatedAt, want.GroupName = micro(now), "Toaster/Production"
			want.Rollout = &api.Rollout{State: api.RolloutComplete, WaveStartedAt: micro(now), ChangedAt: micro(now), Revision: 1}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Deployment:\n got %+v\nwant %+v", got, want)
			}
			latest, err := tx.LatestDeployment(a.ID, field.ID)
			if err != nil {
				return err
			}
			if latest.ID != d3.ID || !reflect.DeepEqual(latest.ImageIDs, []ident.ImageID{im2.ID}) {
				t.Errorf("latest deployment of Field Test: got %+v, want %s", latest, d3.ID)
			}
			_, err = tx.LatestDeployment(a.ID, groups[0].ID)
			wantErr(t, "latest deployment of a group without any", err, store.ErrNotFound)
			_, err = tx.LatestDeployment(b.ID, field.ID)
			wantErr(t, "latest deployment of another tenant's group", err, store.ErrNotFound)
			_, err = tx.Deployment(b.ID, d1.ID)
			wantErr(t, "another tenant's deployment", err, store.ErrNotFound)

			all, err := tx.Deployments(a.ID, "", 0)
			if err != nil {
				return err
			}
			wantIDs(t, "all deployments", deploymentIDs(all), d3.ID, d2.ID, d1.ID)
			if !reflect.DeepEqual(all[1].ImageIDs, []ident.ImageID{im2.ID, im1.ID}) {
				t.Errorf("deployment images out of order: %v", all[1].ImageIDs)
			}
			ofField, err := tx.Deployments(a.ID, field.ID, 0)
			if err != nil {
				return err
			}
			wantIDs(t, "Field Test's deployments", deploymentIDs(ofField), d3.ID, d1.ID)
			ofB, err := tx.Deployments(b.ID, field.ID, 0)
			if err != nil {
				return err
			}
			wantIDs(t, "tenant B listing tenant A's group", deploymentIDs(ofB))
			return nil
		})

		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "deployment to another tenant's group", tx.AddDeployment(dep(groupsB[1], im1.ID)), store.ErrNotFound)
			theft := dep(field, im1.ID, imB.ID)
			wantErr(t, "deployment of another tenant's image", tx.AddDeployment(theft), store.ErrNotFound)
			again := dep(prod, im1.ID)
			again.ID = d1.ID
			wantErr(t, "deployment ID again", tx.AddDeployment(again), store.ErrExists)
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			latest, err := tx.LatestDeployment(a.ID, field.ID)
			if err == nil && latest.ID != d3.ID {
				t.Errorf("a refused deployment became the latest: %+v", latest)
			}
			return err
		})

		// A group without devices can be deleted, deployments and all.
		update(t, s, func(tx *store.Tx) error { return tx.DeleteGroup(a.ID, field.ID) })
		view(t, s, func(tx *store.Tx) error {
			all, err := tx.Deployments(a.ID, "", 0)
			wantIDs(t, "deployments after deleting Field Test", deploymentIDs(all), d2.ID)
			return err
		})
	})
}

func deploymentIDs(ds []api.Deployment) []ident.DeploymentID {
	ids := []ident.DeploymentID{}
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestUpdateReportsReplaceAndStayInTenant(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		_, groups := newProduct(t, s, a.ID, "Toaster")
		prod := groups[2]
		inGroup, loose, ofB := deviceID(1), deviceID(2), deviceID(3)
		claim(t, s, a.ID, inGroup, loose)
		claim(t, s, b.ID, ofB)
		update(t, s, func(tx *store.Tx) error { return tx.SetDeviceGroup(a.ID, inGroup, prod.ID) })
		im := newImage(a.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		addImages(t, s, im)
		update(t, s, func(tx *store.Tx) error {
			return tx.AddDeployment(api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: a.ID, GroupID: prod.ID,
				ImageIDs: []ident.ImageID{im.ID}, CreatedAt: now, CreatedBy: "admin@a"})
		})

		blinky := api.InstalledImage{ImageID: string(im.ID), ComponentID: string(im.ComponentID), Name: "Blinky", Version: "1.0.0", Type: api.ImageApplication}
		rt := api.InstalledImage{ImageID: ident.NewID(), ComponentID: api.RuntimeComponentID, Name: "rampart-runtime",
			Version: "1.2.0", Type: api.ImageRuntime, Slot: "a"}
		update(t, s, func(tx *store.Tx) error {
			return tx.RecordUpdateReport(a.ID, inGroup, api.UpdateReport{Installed: []api.InstalledImage{rt},
				Result: api.UpdateFailed, Message: "no space", At: now}, now.Add(time.Second))
		})
		later := now.Add(time.Hour)
		update(t, s, func(tx *store.Tx) error {
			// A report replaces the last; one without a time takes the time it was received.
			return tx.RecordUpdateReport(a.ID, inGroup, api.UpdateReport{Installed: []api.InstalledImage{rt, blinky},
				Result: api.UpdateOK}, later)
		})
		update(t, s, func(tx *store.Tx) error {
			err := tx.RecordUpdateReport(b.ID, inGroup, api.UpdateReport{Result: api.UpdateOK}, now)
			wantErr(t, "a report for another tenant's device", err, store.ErrNotFound)
			return nil
		})

		view(t, s, func(tx *store.Tx) error {
			got, err := tx.DeviceUpdates(a.ID, inGroup, loose, ofB)
			if err != nil {
				return err
			}
			at := micro(later)
			want := map[ident.DeviceID]api.DeviceUpdates{
				inGroup: {Targeted: []ident.ImageID{im.ID}, Installed: []api.InstalledImage{rt, blinky},
					LastUpdateResult: api.UpdateOK, LastUpdateAt: &at},
				loose: {Targeted: []ident.ImageID{}, Installed: []api.InstalledImage{}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DeviceUpdates:\n got %+v\nwant %+v", got, want)
			}
			gotB, err := tx.DeviceUpdates(b.ID, inGroup)
			if len(gotB) != 0 {
				t.Errorf("tenant B reads tenant A's device updates: %+v", gotB)
			}
			return err
		})
	})
}

func TestRuntimeReleaseKeepsItsPackage(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		rel := release(api.FeedRetail, "1.2.0", strings.Repeat("ab", 64), now)
		rel.ImageID, rel.PackageSize, rel.PackageSHA256 = ident.ImageID(ident.NewID()), 4096, strings.Repeat("EF", 32)
		update(t, s, func(tx *store.Tx) error { return tx.AddRuntimeRelease(rel) })
		view(t, s, func(tx *store.Tx) error {
			rs, err := tx.RuntimeReleases(api.FeedRetail)
			if err != nil {
				return err
			}
			want := rel
			want.PublishedAt, want.PackageSHA256 = micro(now), strings.ToLower(rel.PackageSHA256)
			if len(rs) != 1 || rs[0] != want {
				t.Errorf("RuntimeReleases:\n got %+v\nwant %+v", rs, want)
			}
			return nil
		})
	})
}
