package store

import (
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// EnableDevelopment marks a tenant's device as in development and keeps capability (the wire
// form of format/capability, signed by the caller) as the one the device is served, replacing
// any before it. ErrNotFound if the device is not the tenant's.
func (tx *Tx) EnableDevelopment(tenantID ident.TenantID, id ident.DeviceID, capability []byte, issuedAt time.Time) error {
	n, err := tx.exec("UPDATE devices SET development = TRUE WHERE tenant_id = $1 AND id = $2", tenantID, string(id))
	if err != nil {
		return fmt.Errorf("enable development on device %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	_, err = tx.exec(`INSERT INTO device_capabilities (device_id, tenant_id, body, issued_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (device_id) DO UPDATE SET body = excluded.body, issued_at = excluded.issued_at`,
		string(id), tenantID, capability, micros(issuedAt))
	if err != nil {
		return fmt.Errorf("store development capability of device %s: %w", id, err)
	}
	return nil
}

// DisableDevelopment clears a tenant's device's development flag and deletes its capability.
// ErrNotFound if the device is not the tenant's; disabling twice is no error.
func (tx *Tx) DisableDevelopment(tenantID ident.TenantID, id ident.DeviceID) error {
	n, err := tx.exec("UPDATE devices SET development = FALSE WHERE tenant_id = $1 AND id = $2", tenantID, string(id))
	if err != nil {
		return fmt.Errorf("disable development on device %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if _, err := tx.exec("DELETE FROM device_capabilities WHERE tenant_id = $1 AND device_id = $2", tenantID, string(id)); err != nil {
		return fmt.Errorf("delete development capability of device %s: %w", id, err)
	}
	return nil
}

// DevelopmentCapability returns the capability stored for a tenant's device. ErrNotFound if it
// has none (development is not enabled) or the device is not the tenant's.
func (tx *Tx) DevelopmentCapability(tenantID ident.TenantID, id ident.DeviceID) ([]byte, error) {
	return queryOne(tx, func(r scanner) (b []byte, err error) { return b, r.Scan(&b) },
		fmt.Sprintf("development capability of device %s", id),
		"SELECT body FROM device_capabilities WHERE tenant_id = $1 AND device_id = $2", tenantID, string(id))
}
