package store_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// micro is t as the store returns it.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func newCA(tenantID ident.TenantID, notBefore time.Time, active bool) store.CARecord {
	id := ident.NewID()
	return store.CARecord{
		CA: api.CA{ID: id, TenantID: tenantID, Subject: "CN=CA " + id, Fingerprint: strings.Repeat("ab", 32),
			NotBefore: notBefore, NotAfter: notBefore.Add(365 * 24 * time.Hour), Active: active},
		CertDER:   []byte("certificate " + id),
		SealedKey: []byte("sealed key " + id),
	}
}

// stored is r as CAs returns it.
func stored(r store.CARecord, active bool) store.CARecord {
	r.NotBefore, r.NotAfter, r.Active = micro(r.NotBefore), micro(r.NotAfter), active
	return r
}

func cas(t *testing.T, s *store.Store, tenantID ident.TenantID) []store.CARecord {
	t.Helper()
	var got []store.CARecord
	view(t, s, func(tx *store.Tx) (err error) {
		got, err = tx.CAs(tenantID)
		return err
	})
	return got
}

func wantCAs(t *testing.T, what string, got []store.CARecord, want ...store.CARecord) {
	t.Helper()
	equal := len(got) == len(want)
	for i := 0; equal && i < len(got); i++ {
		g, w := got[i], want[i]
		equal = g.CA == w.CA && string(g.CertDER) == string(w.CertDER) && string(g.SealedKey) == string(w.SealedKey)
	}
	if !equal {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestCARotationKeepsOldCAInactive(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		first := newCA(a.ID, now, true)
		update(t, s, func(tx *store.Tx) error { return tx.AddCA(first) })
		wantCAs(t, "after the first CA", cas(t, s, a.ID), stored(first, true))

		second := newCA(a.ID, now.Add(time.Hour), true)
		update(t, s, func(tx *store.Tx) error { return tx.AddCA(second) })
		wantCAs(t, "after rotation", cas(t, s, a.ID), stored(second, true), stored(first, false))

		// An inactive CA leaves the active one be; of one NotBefore, the later added comes first.
		third := newCA(a.ID, now.Add(time.Hour), false)
		update(t, s, func(tx *store.Tx) error { return tx.AddCA(third) })
		wantCAs(t, "after an inactive CA", cas(t, s, a.ID), stored(third, false), stored(second, true), stored(first, false))

		update(t, s, func(tx *store.Tx) error {
			dup := newCA(a.ID, now, true)
			dup.ID = first.ID
			wantErr(t, "CA with a used ID", tx.AddCA(dup), store.ErrExists)
			wantErr(t, "CA of no tenant", tx.AddCA(newCA(ident.TenantID(ident.NewID()), now, true)), store.ErrNotFound)
			return nil
		})
		// The refused CA deactivated nothing.
		wantCAs(t, "after refused CAs", cas(t, s, a.ID), stored(third, false), stored(second, true), stored(first, false))
	})
}

func TestConcurrentCARotationLeavesOneActive(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		const writers = 8
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				errs <- s.Update(context.Background(), func(tx *store.Tx) error {
					return tx.AddCA(newCA(a.ID, now.Add(time.Duration(i)*time.Minute), true))
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		all := cas(t, s, a.ID)
		var active int
		for _, c := range all {
			if c.Active {
				active++
			}
		}
		if len(all) != writers || active != 1 {
			t.Errorf("%d CAs, %d active; want %d, 1 active", len(all), active, writers)
		}
	})
}

// TestCrossTenantCAs rotates tenant B's CA and checks tenant A's is neither listed nor deactivated.
func TestCrossTenantCAs(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		caA, caB := newCA(a.ID, now, true), newCA(b.ID, now.Add(time.Hour), true)
		update(t, s, func(tx *store.Tx) error { return tx.AddCA(caA) })
		update(t, s, func(tx *store.Tx) error { return tx.AddCA(caB) })
		wantCAs(t, "A's CAs", cas(t, s, a.ID), stored(caA, true))
		wantCAs(t, "B's CAs", cas(t, s, b.ID), stored(caB, true))
		wantCAs(t, "CAs of no tenant", cas(t, s, ""))
	})
}

func release(feed, version, sha512 string, published time.Time) api.RuntimeRelease {
	return api.RuntimeRelease{ID: ident.NewID(), Feed: feed, Version: version, Size: 1 << 20,
		SHA256: strings.Repeat("0", 64), SHA512: sha512, PublishedAt: published}
}

func versions(rs []api.RuntimeRelease) string {
	var vs []string
	for _, r := range rs {
		vs = append(vs, r.Feed+"/"+r.Version)
	}
	return strings.Join(vs, " ")
}

func TestRuntimeReleaseVersionUniquePerFeed(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		sha1, sha2 := strings.Repeat("1a", 64), strings.Repeat("2b", 64)
		retail1 := release(api.FeedRetail, "1.0", sha1, now)
		eval1 := release(api.FeedRetailEval, "1.0", sha1, now.Add(-time.Hour)) // the same runtime on both feeds
		eval2 := release(api.FeedRetailEval, "2.0", sha2, now.Add(time.Hour))
		update(t, s, func(tx *store.Tx) error {
			for _, r := range []api.RuntimeRelease{retail1, eval1} {
				if err := tx.AddRuntimeRelease(r); err != nil {
					return err
				}
			}
			err := tx.AddRuntimeRelease(release(api.FeedRetail, "1.0", sha2, now))
			wantErr(t, "second Retail 1.0", err, store.ErrExists)
			// ErrExists leaves the transaction usable.
			return tx.AddRuntimeRelease(eval2)
		})
		view(t, s, func(tx *store.Tx) error {
			for feed, want := range map[string]string{
				"":                 "RetailEval/2.0 Retail/1.0 RetailEval/1.0",
				api.FeedRetail:     "Retail/1.0",
				api.FeedRetailEval: "RetailEval/2.0 RetailEval/1.0",
				"Other":            "",
			} {
				rs, err := tx.RuntimeReleases(feed)
				if err != nil {
					return err
				}
				if got := versions(rs); got != want {
					t.Errorf("RuntimeReleases(%q) = %s, want %s", feed, got, want)
				}
			}
			rs, err := tx.RuntimeReleases(api.FeedRetail)
			if err != nil {
				return err
			}
			want := retail1
			want.PublishedAt = micro(now)
			if len(rs) != 1 || rs[0] != want {
				t.Errorf("Retail release read back as %+v, want %+v", rs, want)
			}
			for sha, want := range map[string]string{
				sha1:                     "Retail/1.0 RetailEval/1.0",
				strings.ToUpper(sha2):    "RetailEval/2.0",
				strings.Repeat("3", 128): "",
			} {
				rs, err := tx.RuntimeReleasesBySHA512(sha)
				if err != nil {
					return err
				}
				if got := versions(rs); got != want {
					t.Errorf("RuntimeReleasesBySHA512(%.8s…) = %s, want %s", sha, got, want)
				}
			}
			return nil
		})
	})
}

func TestNonceReplayRefused(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		nonce, dev, expires := []byte("nonce 1"), deviceID(1), now.Add(time.Minute)
		update(t, s, func(tx *store.Tx) error { return tx.AddNonce(nonce, dev, expires) })
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "nonce issued twice", tx.AddNonce(nonce, deviceID(2), expires), store.ErrExists)
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			gotDev, gotExpires, err := tx.TakeNonce(nonce)
			if err != nil {
				return err
			}
			if gotDev != dev || gotExpires != micro(expires) {
				t.Errorf("TakeNonce = %s, %v; want %s, %v", gotDev, gotExpires, dev, micro(expires))
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			_, _, err := tx.TakeNonce(nonce)
			wantErr(t, "nonce taken again", err, store.ErrNotFound)
			_, _, err = tx.TakeNonce([]byte("never issued"))
			wantErr(t, "nonce never issued", err, store.ErrNotFound)
			return nil
		})
	})
}

// TestNonceReplayRefusedConcurrently takes one nonce from 8 transactions at once, as replicas
// sharing one database would when a replayed evidence reaches each.
func TestNonceReplayRefusedConcurrently(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		nonce := []byte("nonce 1")
		update(t, s, func(tx *store.Tx) error { return tx.AddNonce(nonce, deviceID(1), now.Add(time.Minute)) })
		const takers = 8
		var wg sync.WaitGroup
		errs := make(chan error, takers)
		for range takers {
			wg.Go(func() {
				errs <- s.Update(context.Background(), func(tx *store.Tx) error {
					_, _, err := tx.TakeNonce(nonce)
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		var taken int
		for err := range errs {
			switch {
			case err == nil:
				taken++
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("TakeNonce: %v", err)
			}
		}
		if taken != 1 {
			t.Errorf("nonce taken %d times, want once", taken)
		}
	})
}

func TestPurgeNonces(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		expiries := map[string]time.Time{
			"long expired": now.Add(-time.Hour),
			"just expired": now.Add(-time.Microsecond),
			"expires now":  now,
			"fresh":        now.Add(time.Minute),
		}
		update(t, s, func(tx *store.Tx) error {
			for name, expires := range expiries {
				if err := tx.AddNonce([]byte(name), deviceID(1), expires); err != nil {
					return err
				}
			}
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			n, err := tx.PurgeNonces(now)
			if n != 2 {
				t.Errorf("PurgeNonces removed %d nonces, want 2", n)
			}
			return err
		})
		update(t, s, func(tx *store.Tx) error {
			for name, expires := range expiries {
				_, _, err := tx.TakeNonce([]byte(name))
				if expires.Before(now) {
					wantErr(t, "purged nonce "+name, err, store.ErrNotFound)
				} else if err != nil {
					t.Errorf("nonce %s: %v", name, err)
				}
			}
			return nil
		})
	})
}

func TestRecordAttestationUpdatesDevice(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a := newTenant(t, s, "A")
		dev := deviceID(1)
		claim(t, s, a.ID, dev)
		view(t, s, func(tx *store.Tx) error {
			d, err := tx.Device(a.ID, dev)
			if err != nil {
				return err
			}
			if d.LastAttestedAt != nil || d.LastAttestResult != "" || d.RuntimeSHA512 != "" || d.CertificateExpiry != nil {
				t.Errorf("device never attested: %+v", d)
			}
			return nil
		})

		runtime, certExpiry := strings.Repeat("5e", 64), now.Add(24*time.Hour)
		update(t, s, func(tx *store.Tx) error {
			return tx.RecordAttestation(store.Attestation{DeviceID: dev, TenantID: a.ID, At: now,
				Result: api.AttestPass, Mode: "normal", RuntimeSHA512: runtime, CertExpiry: &certExpiry, Source: "192.0.2.1"})
		})
		check := func(when, result, reason string, at time.Time) {
			t.Helper()
			view(t, s, func(tx *store.Tx) error {
				one, err := tx.Device(a.ID, dev)
				if err != nil {
					return err
				}
				listed, err := tx.Devices(a.ID, store.DeviceFilter{})
				if err != nil {
					return err
				}
				anyTenant, err := tx.DeviceAnyTenant(dev)
				if err != nil {
					return err
				}
				for name, d := range map[string]api.Device{"Device": one, "Devices": listed[0], "DeviceAnyTenant": anyTenant} {
					if d.LastAttestedAt == nil || *d.LastAttestedAt != micro(at) || d.LastAttestedAt.Location() != time.UTC ||
						d.LastAttestResult != result || d.LastAttestReason != reason || d.RuntimeSHA512 != runtime ||
						d.CertificateExpiry == nil || *d.CertificateExpiry != micro(certExpiry) {
						t.Errorf("%s, %s: %+v (attested at %v, certificate expires %v); want %s %q at %v, runtime %.8s…, certificate expires %v",
							when, name, d, d.LastAttestedAt, d.CertificateExpiry, result, reason, micro(at), runtime, micro(certExpiry))
					}
				}
				return nil
			})
		}
		check("after a pass", api.AttestPass, "", now)

		// A failure records its outcome but keeps the runtime and certificate of the last pass.
		later := now.Add(time.Hour)
		update(t, s, func(tx *store.Tx) error {
			return tx.RecordAttestation(store.Attestation{DeviceID: dev, TenantID: a.ID, At: later,
				Result: api.AttestFail, Reason: api.ReasonBadSignature, RuntimeSHA512: strings.Repeat("66", 64)})
		})
		check("after a failure", api.AttestFail, api.ReasonBadSignature, later)

		update(t, s, func(tx *store.Tx) error {
			err := tx.RecordAttestation(store.Attestation{DeviceID: dev, TenantID: a.ID, At: now, Result: "maybe"})
			if err == nil {
				t.Error("RecordAttestation with result \"maybe\" succeeded")
			}
			return nil
		})
	})
}

func TestAttestationFailuresPerTenant(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		devA, devB, unclaimed := deviceID(1), deviceID(2), deviceID(3)
		claim(t, s, a.ID, devA)
		claim(t, s, b.ID, devB)
		fail := func(dev ident.DeviceID, tenantID ident.TenantID, at time.Time, reason string) store.Attestation {
			return store.Attestation{DeviceID: dev, TenantID: tenantID, At: at, Result: api.AttestFail, Reason: reason,
				Message: "message " + reason, Mode: "debug", RuntimeSHA512: strings.Repeat("7f", 64), Source: "192.0.2.7"}
		}
		old := fail(devA, a.ID, now.Add(-time.Hour), api.ReasonStaleNonce)
		atSince := fail(devA, a.ID, now, api.ReasonBadSignature)
		latest := fail(devA, a.ID, now.Add(time.Minute), api.ReasonMeasurementMismatch)
		ofB := fail(devB, b.ID, now, api.ReasonRevoked)
		ofNone := fail(unclaimed, "", now, api.ReasonUnclaimed)
		update(t, s, func(tx *store.Tx) error {
			for _, a := range []store.Attestation{old, atSince, latest, ofB, ofNone} {
				if err := tx.RecordAttestation(a); err != nil {
					return err
				}
			}
			// A pass is no failure.
			return tx.RecordAttestation(store.Attestation{DeviceID: devA, TenantID: a.ID, At: now, Result: api.AttestPass})
		})
		// B cannot record an attestation of A's device.
		err := s.Update(context.Background(), func(tx *store.Tx) error {
			return tx.RecordAttestation(fail(devA, b.ID, now.Add(time.Minute), api.ReasonRevoked))
		})
		wantErr(t, "B records an attestation of A's device", err, store.ErrNotFound)

		stored := func(as ...store.Attestation) []store.Attestation {
			for i := range as {
				as[i].At = micro(as[i].At)
			}
			return as
		}
		for _, tc := range []struct {
			name     string
			tenantID ident.TenantID
			limit    int
			want     []store.Attestation
		}{
			{"A", a.ID, 0, stored(latest, atSince)},
			{"A, limit 1", a.ID, 1, stored(latest)},
			{"B", b.ID, 0, stored(ofB)},
			{"unclaimed", "", 0, stored(ofNone)},
			{"unknown tenant", ident.TenantID(ident.NewID()), 0, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				view(t, s, func(tx *store.Tx) error {
					got, err := tx.AttestationFailures(tc.tenantID, now, tc.limit)
					if err != nil {
						return err
					}
					if !slices.EqualFunc(got, tc.want, func(x, y store.Attestation) bool { return reflect.DeepEqual(x, y) }) { // CertExpiry nil: a failure issues no certificate

						t.Errorf("AttestationFailures:\n got %+v\nwant %+v", got, tc.want)
					}
					return nil
				})
			})
		}
		view(t, s, func(tx *store.Tx) error {
			d, err := tx.Device(a.ID, devA)
			if err == nil && d.LastAttestResult != api.AttestPass {
				t.Errorf("A's device after B's attempt: %+v", d)
			}
			return err
		})
	})
}

func TestDeviceAnyTenant(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "A"), newTenant(t, s, "B")
		_, groups := newProduct(t, s, b.ID, "Gadget")
		claim(t, s, a.ID, deviceID(1))
		claim(t, s, b.ID, deviceID(2))
		update(t, s, func(tx *store.Tx) error { return tx.SetDeviceGroup(b.ID, deviceID(2), groups[2].ID) })
		view(t, s, func(tx *store.Tx) error {
			for dev, tenant := range map[ident.DeviceID]api.Tenant{deviceID(1): a, deviceID(2): b} {
				want, err := tx.Device(tenant.ID, dev)
				if err != nil {
					return err
				}
				got, err := tx.DeviceAnyTenant(dev)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, want) || got.TenantID != tenant.ID {
					t.Errorf("DeviceAnyTenant(%s) = %+v, want %+v", dev, got, want)
				}
			}
			_, err := tx.DeviceAnyTenant(deviceID(3))
			wantErr(t, "unclaimed device", err, store.ErrNotFound)
			return nil
		})
	})
}
