package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// TestReleaseDeviceRevokesItsCertificates: a released device is unclaimed (any tenant may claim
// it again, with another verifier), and its unexpired certificates are revoked for the CRLs;
// certificates of a device being released when issued are recorded as revoked.
func TestReleaseDeviceRevokesItsCertificates(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "a"), newTenant(t, s, "b")
		id := ident.DeviceIDFromPublicKey([]byte("released"))
		code := ident.ClaimCode("000G4-0R40M-30E20-9185Y").Verifier()
		now := time.Now().UTC()
		caID := ident.NewID()
		update(t, s, func(tx *store.Tx) error {
			if _, err := tx.ClaimDevicesWithCodes(a.ID, []store.Claim{{ID: id, Verifier: &code}}, now); err != nil {
				return err
			}
			for _, serial := range []string{"0a", "0b"} {
				if err := tx.AddDeviceCert(store.DeviceCert{Serial: serial, TenantID: a.ID, CAID: caID, DeviceID: id,
					NotAfter: now.Add(24 * time.Hour)}, now); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			v, ok, err := tx.ClaimVerifier(id)
			if err != nil || !ok || v != code {
				t.Errorf("verifier %x %v %v", v, ok, err)
			}
			if r, _ := tx.DeviceCertRevoked("0a"); r {
				t.Error("a claimed device's certificate is revoked")
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			if err := tx.ReleaseDevice(b.ID, id, now); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("another tenant releases: %v", err)
			}
			return tx.ReleaseDevice(a.ID, id, now)
		})
		view(t, s, func(tx *store.Tx) error {
			if _, err := tx.DeviceAnyTenant(id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("released device still claimed: %v", err)
			}
			revoked, err := tx.RevokedCerts(caID, now)
			if len(revoked) != 2 || err != nil {
				t.Errorf("revoked certificates %+v %v, want both", revoked, err)
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			// Issued while nobody holds the device: revoked from the start.
			if err := tx.AddDeviceCert(store.DeviceCert{Serial: "0c", TenantID: a.ID, CAID: caID, DeviceID: id,
				NotAfter: now.Add(24 * time.Hour)}, now); err != nil {
				return err
			}
			_, err := tx.ClaimDevices(b.ID, []ident.DeviceID{id}, now)
			return err
		})
		view(t, s, func(tx *store.Tx) error {
			if r, _ := tx.DeviceCertRevoked("0c"); !r {
				t.Error("a certificate issued to an unclaimed device is not revoked")
			}
			if _, ok, _ := tx.ClaimVerifier(id); ok {
				t.Error("the claim by ID alone has a verifier")
			}
			return nil
		})
	})
}

// TestWithdrawnRuntimeCannotBeAddedAgain: a withdrawn release stays (its version is taken) and
// its runtime cannot come back under another version.
func TestWithdrawnRuntimeCannotBeAddedAgain(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		sha := strings.Repeat("ab", 64)
		rel := func(v, sha512 string) api.RuntimeRelease {
			return api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: v, Size: 1, SHA512: sha512,
				SHA256: strings.Repeat("0", 64), PublishedAt: time.Now()}
		}
		update(t, s, func(tx *store.Tx) error { return tx.AddRuntimeRelease(rel("1.0", sha)) })
		update(t, s, func(tx *store.Tx) error {
			if _, err := tx.WithdrawRuntimeRelease(api.FeedRetail, "9.9", time.Now()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("withdraw an unknown version: %v", err)
			}
			_, err := tx.WithdrawRuntimeRelease(api.FeedRetail, "1.0", time.Now())
			return err
		})
		update(t, s, func(tx *store.Tx) error {
			if err := tx.AddRuntimeRelease(rel("1.0", strings.Repeat("cd", 64))); !errors.Is(err, store.ErrExists) {
				t.Errorf("the withdrawn version again: %v", err)
			}
			if err := tx.AddRuntimeRelease(rel("1.0.1", strings.ToUpper(sha))); !errors.Is(err, store.ErrWithdrawn) {
				t.Errorf("the withdrawn runtime as another version: %v", err)
			}
			rs, err := tx.RuntimeReleasesBySHA512(sha)
			if len(rs) != 1 || rs[0].WithdrawnAt == nil {
				t.Errorf("releases of the runtime %+v %v", rs, err)
			}
			return err
		})
	})
}
