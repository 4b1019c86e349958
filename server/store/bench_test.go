package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// The benchmarks measure the store's hot paths on every backend: a device read (what every
// device request and management GET does) and a small write (what an attestation does), each
// from several goroutines at once, as the service's requests are.

func benchStore(b *testing.B, run func(b *testing.B, s *store.Store, tn api.Tenant)) {
	for _, backend := range storetest.Backends(b) {
		b.Run(backend, func(b *testing.B) {
			s := storetest.Open(b, backend)
			tn := api.Tenant{ID: "0f4e6a1c-43c4-4a8e-9d93-0ad3a6a6e5c1", Name: "bench", CreatedAt: now}
			ctx := context.Background()
			err := s.Update(ctx, func(tx *store.Tx) error {
				if err := tx.CreateTenant(tn); err != nil {
					return err
				}
				_, err := tx.ClaimDevices(tn.ID, []ident.DeviceID{deviceID(1)}, now)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			run(b, s, tn)
		})
	}
}

func BenchmarkDeviceRead(b *testing.B) {
	benchStore(b, func(b *testing.B, s *store.Store, _ api.Tenant) {
		ctx := context.Background()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				err := s.View(ctx, func(tx *store.Tx) error {
					_, err := tx.DeviceAnyTenant(deviceID(1))
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkAttestationWrite(b *testing.B) {
	benchStore(b, func(b *testing.B, s *store.Store, tn api.Tenant) {
		ctx := context.Background()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				err := s.Update(ctx, func(tx *store.Tx) error {
					at := time.Now()
					return tx.RecordAttestation(store.Attestation{DeviceID: deviceID(1), TenantID: tn.ID, At: at,
						Result: api.AttestPass, Mode: "normal", CertExpiry: &at})
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
