package store

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// DeviceCert is a device certificate as the CRLs need it.
type DeviceCert struct {
	Serial    string // lowercase hex
	TenantID  ident.TenantID
	CAID      string
	DeviceID  ident.DeviceID
	NotAfter  time.Time
	RevokedAt *time.Time
}

// AddDeviceCert records a device certificate just issued, and forgets the device's certificates
// that expired more than a day before at (no CRL needs to list them any more), so that the table
// holds a few rows per device. A certificate issued while its device was being revoked or
// released (it is no longer a claimed device of the tenant) is recorded as revoked.
func (tx *Tx) AddDeviceCert(c DeviceCert, at time.Time) error {
	if _, err := tx.exec("DELETE FROM device_certificates WHERE device_id = $1 AND not_after < $2",
		string(c.DeviceID), micros(at.Add(-24*time.Hour))); err != nil {
		return fmt.Errorf("forget expired device certificates: %w", err)
	}
	_, err := tx.exec(`INSERT INTO device_certificates (serial, tenant_id, ca_id, device_id, not_after, revoked_at)
		VALUES ($1, $2, $3, $4, $5, CASE WHEN EXISTS (SELECT 1 FROM devices
			WHERE id = $4 AND tenant_id = $2 AND state = $7) THEN NULL ELSE CAST($6 AS BIGINT) END)`,
		c.Serial, c.TenantID, c.CAID, string(c.DeviceID), micros(c.NotAfter), micros(at), api.DeviceClaimed)
	if err != nil {
		return fmt.Errorf("record device certificate: %w", err)
	}
	return nil
}

// RevokeDeviceCertificates marks revoked, at at, every certificate of the tenant's device that
// has not expired.
func (tx *Tx) RevokeDeviceCertificates(tenantID ident.TenantID, id ident.DeviceID, at time.Time) error {
	_, err := tx.exec(`UPDATE device_certificates SET revoked_at = $3
		WHERE tenant_id = $1 AND device_id = $2 AND revoked_at IS NULL AND not_after > $3`,
		tenantID, string(id), micros(at))
	if err != nil {
		return fmt.Errorf("revoke the certificates of device %s: %w", id, err)
	}
	return nil
}

// DeviceCertRevoked reports whether the device certificate with this serial (lowercase hex)
// was revoked. A certificate the store does not know (issued before it kept them, or expired
// more than a day ago) is not.
func (tx *Tx) DeviceCertRevoked(serial string) (bool, error) {
	ok, err := tx.exists("SELECT 1 FROM device_certificates WHERE serial = $1 AND revoked_at IS NOT NULL", serial)
	if err != nil {
		return false, fmt.Errorf("look up device certificate: %w", err)
	}
	return ok, nil
}

// RevokedCerts lists the revoked certificates of a CA that have not expired at at, by serial.
func (tx *Tx) RevokedCerts(caID string, at time.Time) ([]DeviceCert, error) {
	cs, err := queryAll(tx, func(r scanner) (DeviceCert, error) {
		var c DeviceCert
		var notAfter int64
		var revoked sql.NullInt64
		err := r.Scan(&c.Serial, &c.TenantID, &c.CAID, (*string)(&c.DeviceID), &notAfter, &revoked)
		c.NotAfter = fromMicros(notAfter)
		c.RevokedAt = fromNullMicros(revoked)
		return c, err
	}, `SELECT serial, tenant_id, ca_id, device_id, not_after, revoked_at FROM device_certificates
		WHERE ca_id = $1 AND revoked_at IS NOT NULL AND not_after > $2 ORDER BY serial`, caID, micros(at))
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	return cs, nil
}

// CRL is a tenant CA's current certificate revocation list.
type CRL struct {
	CAID       string
	TenantID   ident.TenantID
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	DER        []byte
}

// CRL returns a CA's current CRL. ErrNotFound if none was made yet.
func (tx *Tx) CRL(tenantID ident.TenantID, caID string) (CRL, error) {
	return queryOne(tx, func(r scanner) (CRL, error) {
		var c CRL
		var this, next int64
		err := r.Scan(&c.CAID, &c.TenantID, &c.Number, &this, &next, &c.DER)
		c.ThisUpdate, c.NextUpdate = fromMicros(this), fromMicros(next)
		return c, err
	}, fmt.Sprintf("CRL of CA %s", caID), `SELECT ca_id, tenant_id, number, this_update, next_update, der
		FROM tenant_crls WHERE tenant_id = $1 AND ca_id = $2`, tenantID, caID)
}

// PutCRL stores a CA's CRL in place of the one before.
func (tx *Tx) PutCRL(c CRL) error {
	_, err := tx.exec(`INSERT INTO tenant_crls (ca_id, tenant_id, number, this_update, next_update, der)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ca_id) DO UPDATE SET number = excluded.number,
		this_update = excluded.this_update, next_update = excluded.next_update, der = excluded.der`,
		c.CAID, c.TenantID, c.Number, micros(c.ThisUpdate), micros(c.NextUpdate), c.DER)
	if err != nil {
		return fmt.Errorf("store the CRL of CA %s: %w", c.CAID, err)
	}
	return nil
}
