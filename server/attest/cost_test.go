package attest_test

import (
	"context"
	"crypto/rand"
	"syscall"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// BenchmarkAttest measures a claimed device's attestation on every backend, from several
// devices at once: a nonce, the device signing its evidence, and the appraisal with the
// certificate issued.
func BenchmarkAttest(b *testing.B) {
	for _, backend := range storetest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			e := newEnv(b, backend)
			const devices = 16
			ds := make(chan *device, devices)
			for range devices {
				d := newDevice(b, runtime, rot.ModeNormal)
				e.claim(b, d)
				ds <- d
			}
			b.SetParallelism(8)
			stats := e.st.Stats()
			cpu := cpuTime()
			b.ResetTimer()
			defer func() {
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				after := e.st.Stats()
				b.ReportMetric(float64(after.Views-stats.Views)/float64(b.N), "views/op")
				b.ReportMetric(float64(after.Updates-stats.Updates)/float64(b.N), "updates/op")
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := <-ds
					_, err := e.svc.Attest(context.Background(), d.evidence(b, e.nonce(b, d.id)), "192.0.2.1")
					ds <- d
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// cpuTime returns the CPU time the process has used, in nanoseconds: on a shared machine a
// steadier measure of work than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// transactions returns how many read and write transactions fn made in st.
func transactions(st *store.Store, fn func()) (views, updates int64) {
	before := st.Stats()
	fn()
	after := st.Stats()
	return after.Views - before.Views, after.Updates - before.Updates
}

// TestAttestPassIsOneReadAndOneWrite: an attestation that passes reads once and writes once
// (the nonce, the outcome and the certificate together), once its tenant has a CA.
func TestAttestPassIsOneReadAndOneWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		if _, err := e.svc.Attest(context.Background(), d.evidence(t, e.nonce(t, d.id)), "x"); err != nil {
			t.Fatal(err) // makes the tenant's CA
		}
		tok := d.evidence(t, e.nonce(t, d.id))
		views, updates := transactions(e.st, func() {
			if _, err := e.svc.Attest(context.Background(), tok, "x"); err != nil {
				t.Fatal(err)
			}
		})
		if views != 1 || updates != 1 {
			t.Errorf("attestation took %d read and %d write transactions, want 1 and 1", views, updates)
		}
		views, updates = transactions(e.st, func() { e.wantFailure(t, tok, api.ReasonStaleNonce) })
		if views != 1 || updates != 1 {
			t.Errorf("replayed attestation took %d read and %d write transactions, want 1 and 1", views, updates)
		}
	})
}

// TestAttestReplayedTokenCannotDropNewClaim: the failure of a device that does not prove the code it was
// claimed with drops the claim in the same write as the failure's record and the nonce, so a
// replay of the token finds the nonce spent and drops nothing, not even a new claim.
func TestAttestReplayedTokenCannotDropNewClaim(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		claimWithCode := func() {
			var seed [ident.ClaimCodeSeedSize]byte
			rand.Read(seed[:])
			v := ident.NewClaimCode(seed).Verifier()
			err := e.st.Update(context.Background(), func(tx *store.Tx) error {
				_, err := tx.ClaimDevicesWithCodes(e.ten.ID, []store.Claim{{ID: d.id, Verifier: &v}}, e.now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		claimWithCode()
		tok := d.evidence(t, e.nonce(t, d.id)) // proves no claim code
		views, updates := transactions(e.st, func() { e.wantFailure(t, tok, api.ReasonClaimCodeUnproven) })
		if views != 1 || updates != 1 {
			t.Errorf("claim drop took %d read and %d write transactions, want 1 and 1", views, updates)
		}
		claimed := func() bool {
			var err error
			e.st.View(context.Background(), func(tx *store.Tx) error {
				_, err = tx.Device(e.ten.ID, d.id)
				return nil
			})
			return err == nil
		}
		if claimed() {
			t.Fatal("the unproven claim was kept")
		}
		claimWithCode()
		e.wantFailure(t, tok, api.ReasonStaleNonce)
		if !claimed() {
			t.Error("a replayed token dropped the new claim")
		}
	})
}
