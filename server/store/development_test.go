package store_test

import (
	"testing"

	"github.com/rampart-iot/rampart/server/store"
)

func TestDevelopmentCapabilityKeptPerDevice(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		a, b := newTenant(t, s, "a"), newTenant(t, s, "b")
		claim(t, s, a.ID, deviceID(1), deviceID(2))
		claim(t, s, b.ID, deviceID(3))
		update(t, s, func(tx *store.Tx) error {
			err := tx.EnableDevelopment(b.ID, deviceID(1), []byte("cap"), now)
			wantErr(t, "another tenant's device", err, store.ErrNotFound)
			if err := tx.EnableDevelopment(a.ID, deviceID(1), []byte("first"), now); err != nil {
				return err
			}
			return tx.EnableDevelopment(a.ID, deviceID(1), []byte("second"), now)
		})
		view(t, s, func(tx *store.Tx) error {
			body, err := tx.DevelopmentCapability(a.ID, deviceID(1))
			if err != nil || string(body) != "second" {
				t.Errorf("capability = %q, %v; want the newest", body, err)
			}
			if d, err := tx.Device(a.ID, deviceID(1)); err != nil || !d.Development {
				t.Errorf("device = %+v, %v; want development on", d, err)
			}
			if d, err := tx.Device(a.ID, deviceID(2)); err != nil || d.Development {
				t.Errorf("other device = %+v, %v; want development off", d, err)
			}
			_, err = tx.DevelopmentCapability(a.ID, deviceID(2))
			wantErr(t, "a device without a capability", err, store.ErrNotFound)
			_, err = tx.DevelopmentCapability(b.ID, deviceID(1))
			wantErr(t, "another tenant's capability", err, store.ErrNotFound)
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			wantErr(t, "disable another tenant's device", tx.DisableDevelopment(b.ID, deviceID(1)), store.ErrNotFound)
			if err := tx.DisableDevelopment(a.ID, deviceID(1)); err != nil {
				return err
			}
			return tx.DisableDevelopment(a.ID, deviceID(1))
		})
		view(t, s, func(tx *store.Tx) error {
			_, err := tx.DevelopmentCapability(a.ID, deviceID(1))
			wantErr(t, "a disabled device's capability", err, store.ErrNotFound)
			if d, err := tx.Device(a.ID, deviceID(1)); err != nil || d.Development {
				t.Errorf("device = %+v, %v; want development off", d, err)
			}
			return nil
		})
	})
}
