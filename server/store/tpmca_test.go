package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

func newTPMCA(fingerprint string, root bool, added time.Time) store.TPMCARecord {
	return store.TPMCARecord{
		TPMCA: api.TPMCA{ID: ident.NewID(), Subject: "CN=TPM CA " + fingerprint[:4], Fingerprint: fingerprint,
			Root: root, NotAfter: micro(added.Add(10 * 365 * 24 * time.Hour)), AddedAt: micro(added), AddedBy: "user/op"},
		CertDER: []byte("certificate " + fingerprint),
	}
}

func TestTPMCAsAddListRemove(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		root := newTPMCA(strings.Repeat("aa", 32), true, now)
		inter := newTPMCA(strings.Repeat("bb", 32), false, now.Add(time.Second))
		update(t, s, func(tx *store.Tx) error {
			if err := tx.AddTPMCA(root); err != nil {
				return err
			}
			return tx.AddTPMCA(inter)
		})
		// The same certificate under another ID is refused.
		again := newTPMCA(root.Fingerprint, true, now)
		wantErr(t, "add the same certificate again", s.Update(t.Context(), func(tx *store.Tx) error {
			return tx.AddTPMCA(again)
		}), store.ErrExists)

		var got []store.TPMCARecord
		view(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.TPMCAs()
			return err
		})
		if len(got) != 2 || got[0].TPMCA != root.TPMCA || got[1].TPMCA != inter.TPMCA ||
			string(got[0].CertDER) != string(root.CertDER) {
			t.Fatalf("TPMCAs:\n got %+v\nwant %+v, %+v", got, root, inter)
		}

		update(t, s, func(tx *store.Tx) error {
			removed, err := tx.RemoveTPMCA(root.ID)
			if err == nil && removed.TPMCA != root.TPMCA {
				t.Errorf("removed %+v, want %+v", removed.TPMCA, root.TPMCA)
			}
			return err
		})
		wantErr(t, "remove twice", s.Update(t.Context(), func(tx *store.Tx) error {
			_, err := tx.RemoveTPMCA(root.ID)
			return err
		}), store.ErrNotFound)
		view(t, s, func(tx *store.Tx) (err error) {
			got, err = tx.TPMCAs()
			return err
		})
		if len(got) != 1 || got[0].ID != inter.ID {
			t.Errorf("after removal: %+v, want only the intermediate", got)
		}
	})
}

// TestTPMRootOfTrustIsNeverDowngraded: once a device is recorded with a TPM, recording the
// software root leaves it so.
func TestTPMRootOfTrustIsNeverDowngraded(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		id := deviceID(1)
		claim(t, s, tn.ID, id)
		device := func() api.Device {
			var d api.Device
			view(t, s, func(tx *store.Tx) (err error) {
				d, err = tx.Device(tn.ID, id)
				return err
			})
			return d
		}
		if d := device(); d.RootOfTrust != "" || d.EKFingerprint != "" {
			t.Fatalf("new device: root %q, EK %q; want none", d.RootOfTrust, d.EKFingerprint)
		}
		set := func(root, ek string) {
			update(t, s, func(tx *store.Tx) error { return tx.SetRootOfTrust(tn.ID, id, root, ek) })
		}
		set(api.RootOfTrustSoftware, "ignored")
		if d := device(); d.RootOfTrust != api.RootOfTrustSoftware || d.EKFingerprint != "" {
			t.Fatalf("software: root %q, EK %q", d.RootOfTrust, d.EKFingerprint)
		}
		set(api.RootOfTrustTPM, "ek1")
		set(api.RootOfTrustSoftware, "")
		if d := device(); d.RootOfTrust != api.RootOfTrustTPM || d.EKFingerprint != "ek1" {
			t.Errorf("after software evidence: root %q, EK %q; want tpm, ek1", d.RootOfTrust, d.EKFingerprint)
		}
		wantErr(t, "unknown device", s.Update(t.Context(), func(tx *store.Tx) error {
			return tx.SetRootOfTrust(tn.ID, deviceID(2), api.RootOfTrustTPM, "ek")
		}), store.ErrNotFound)
		if err := s.Update(t.Context(), func(tx *store.Tx) error {
			return tx.SetRootOfTrust(tn.ID, id, "dice", "")
		}); err == nil {
			t.Error("an unknown root of trust was recorded")
		}
	})
}

func TestGroupRequireTPMIsStored(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "Contoso")
		p, groups := newProduct(t, s, tn.ID, "Kettle")
		g := newGroups(p, []api.DeviceGroup{{Name: "Secure", OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyAll,
			RequireTPM: true}})[0]
		update(t, s, func(tx *store.Tx) error { return tx.CreateGroup(g) })
		get := func(id ident.GroupID) api.DeviceGroup {
			var got api.DeviceGroup
			view(t, s, func(tx *store.Tx) (err error) {
				got, err = tx.Group(tn.ID, id)
				return err
			})
			return got
		}
		if !get(g.ID).RequireTPM || get(groups[0].ID).RequireTPM {
			t.Fatal("require_tpm not stored as created")
		}
		g.RequireTPM = false
		update(t, s, func(tx *store.Tx) error { return tx.UpdateGroup(g) })
		if get(g.ID).RequireTPM {
			t.Error("require_tpm still set after update")
		}
	})
}
