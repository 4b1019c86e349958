package store

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// deviceSelect reads devices with their group's and product's IDs and names.
const deviceSelect = `SELECT d.id, d.tenant_id, COALESCE(g.product_id, ''), COALESCE(p.name, ''),
	COALESCE(d.group_id, ''), COALESCE(g.name, ''), d.state, d.claimed_at, d.revoked_at,
	d.last_seen_at, d.development, d.last_attested_at, d.last_attest_result, d.last_attest_reason,
	d.runtime_sha512, d.cert_expires_at, d.claim_verifier IS NOT NULL, d.root_of_trust, d.ek_fingerprint
	FROM devices d
	LEFT JOIN device_groups g ON g.id = d.group_id
	LEFT JOIN products p ON p.id = g.product_id`

func scanDevice(r scanner) (api.Device, error) {
	var d api.Device
	var claimed int64
	var revoked, seen, attested, certExpiry sql.NullInt64
	err := r.Scan((*string)(&d.ID), &d.TenantID, &d.ProductID, &d.ProductName, &d.GroupID, &d.GroupName,
		&d.State, &claimed, &revoked, &seen, &d.Development, &attested, &d.LastAttestResult,
		&d.LastAttestReason, &d.RuntimeSHA512, &certExpiry, &d.ClaimedWithCode, &d.RootOfTrust, &d.EKFingerprint)
	d.ClaimedAt = fromMicros(claimed)
	d.RevokedAt = fromNullMicros(revoked)
	d.LastSeenAt = fromNullMicros(seen)
	d.LastAttestedAt = fromNullMicros(attested)
	d.CertificateExpiry = fromNullMicros(certExpiry)
	return d, err
}

// claimBatch is how many devices one INSERT claims, well within both databases' limits on
// parameters.
const claimBatch = 500

// Claim is one device to claim, with the verifier of the claim code it was claimed with (nil
// for a claim by ID alone).
type Claim struct {
	ID       ident.DeviceID
	Verifier *ident.ClaimVerifier
}

// ClaimDevices claims devices by ID alone: ClaimDevicesWithCodes without verifiers.
func (tx *Tx) ClaimDevices(tenantID ident.TenantID, ids []ident.DeviceID, at time.Time) ([]api.Device, error) {
	claims := make([]Claim, len(ids))
	for i, id := range ids {
		claims[i] = Claim{ID: id}
	}
	return tx.ClaimDevicesWithCodes(tenantID, claims, at)
}

// ClaimDevicesWithCodes claims every one of claims into the tenant, or none: if any is claimed
// already (by this or another tenant) it returns an error wrapping ErrAlreadyClaimed that names
// the first such device. A device listed twice is claimed once, as first listed.
func (tx *Tx) ClaimDevicesWithCodes(tenantID ident.TenantID, claims []Claim, at time.Time) ([]api.Device, error) {
	return tx.ClaimDevicesIntoGroup(tenantID, "", claims, at)
}

// ClaimDevicesIntoGroup is ClaimDevicesWithCodes that puts the devices in one of the tenant's
// device groups as it claims them ("" for none). ErrNotFound, and nothing claimed, if the group
// is not the tenant's.
func (tx *Tx) ClaimDevicesIntoGroup(tenantID ident.TenantID, groupID ident.GroupID, claims []Claim, at time.Time) ([]api.Device, error) {
	at = at.UTC().Truncate(time.Microsecond)
	if groupID != "" {
		ok, err := tx.exists("SELECT 1 FROM device_groups WHERE tenant_id = $1 AND id = $2", tenantID, groupID)
		if err != nil {
			return nil, fmt.Errorf("claim devices: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("device group %q: %w", groupID, ErrNotFound)
		}
	}
	var unique []Claim
	seen := make(map[ident.DeviceID]bool)
	for _, c := range claims {
		if !seen[c.ID] {
			seen[c.ID] = true
			unique = append(unique, c)
		}
	}
	err := tx.atomic(func() error {
		for batch := range slices.Chunk(unique, claimBatch) {
			claimed, err := tx.insertDevices(tenantID, groupID, batch, at)
			if err != nil {
				return fmt.Errorf("claim devices: %w", err)
			}
			for _, c := range batch {
				if !claimed[c.ID] {
					// Whoever holds it, this tenant or another, is not said.
					return fmt.Errorf("device %s: %w", c.ID, ErrAlreadyClaimed)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	devices := make([]api.Device, len(unique))
	for i, c := range unique {
		devices[i] = api.Device{ID: c.ID, TenantID: tenantID, GroupID: groupID, State: api.DeviceClaimed, ClaimedAt: at,
			ClaimedWithCode: c.Verifier != nil}
	}
	return devices, nil
}

// insertDevices inserts the devices that nobody has claimed yet, in groupID ("" for none), and
// returns which those were.
func (tx *Tx) insertDevices(tenantID ident.TenantID, groupID ident.GroupID, claims []Claim, at time.Time) (map[ident.DeviceID]bool, error) {
	var q strings.Builder
	q.WriteString("INSERT INTO devices (id, tenant_id, state, claimed_at, group_id, group_since, claim_verifier) VALUES ")
	group := sql.NullString{String: string(groupID), Valid: groupID != ""}
	since := int64(0)
	if group.Valid {
		since = micros(at)
	}
	args := []any{tenantID, api.DeviceClaimed, micros(at), group, since}
	for i, c := range claims {
		if i > 0 {
			q.WriteString(", ")
		}
		var verifier []byte // NULL
		if c.Verifier != nil {
			verifier = c.Verifier[:]
		}
		args = append(args, string(c.ID), verifier)
		fmt.Fprintf(&q, "($%d, $1, $2, $3, $4, $5, $%d)", len(args)-1, len(args))
	}
	q.WriteString(" ON CONFLICT DO NOTHING RETURNING id")
	inserted, err := queryAll(tx, func(r scanner) (id ident.DeviceID, err error) {
		return id, r.Scan((*string)(&id))
	}, q.String(), args...)
	if err != nil {
		return nil, err
	}
	claimed := make(map[ident.DeviceID]bool, len(inserted))
	for _, id := range inserted {
		claimed[id] = true
	}
	return claimed, nil
}

// ClaimVerifier returns the verifier of the claim code a device was claimed with, and false if
// it was claimed by ID alone. ErrNotFound if no tenant has claimed it.
func (tx *Tx) ClaimVerifier(id ident.DeviceID) (ident.ClaimVerifier, bool, error) {
	var v ident.ClaimVerifier
	b, err := queryOne(tx, func(r scanner) (b []byte, err error) { return b, r.Scan(&b) },
		fmt.Sprintf("device %s", id), "SELECT claim_verifier FROM devices WHERE id = $1", string(id))
	if err != nil || b == nil {
		return v, false, err
	}
	if len(b) != len(v) {
		return v, false, fmt.Errorf("device %s: claim verifier of %d bytes", id, len(b))
	}
	copy(v[:], b)
	return v, true, nil
}

// ReleaseDevice removes a tenant's device from it, with its update state and development
// capability, and revokes its certificates (RevokeDeviceCertificates): it can be claimed again.
// Its error events and audit entries stay with the tenant. ErrNotFound if the tenant has no
// such device.
func (tx *Tx) ReleaseDevice(tenantID ident.TenantID, id ident.DeviceID, at time.Time) error {
	return tx.atomic(func() error {
		for _, q := range []string{
			"DELETE FROM device_updates WHERE tenant_id = $1 AND device_id = $2",
			"DELETE FROM device_capabilities WHERE tenant_id = $1 AND device_id = $2",
		} {
			if _, err := tx.exec(q, tenantID, string(id)); err != nil {
				return fmt.Errorf("release device %s: %w", id, err)
			}
		}
		n, err := tx.exec("DELETE FROM devices WHERE tenant_id = $1 AND id = $2", tenantID, string(id))
		if err != nil {
			return fmt.Errorf("release device %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		}
		return tx.RevokeDeviceCertificates(tenantID, id, at)
	})
}

// Devices lists a tenant's devices by f, in device-ID order.
func (tx *Tx) Devices(tenantID ident.TenantID, f DeviceFilter) ([]api.Device, error) {
	q := deviceSelect + " WHERE d.tenant_id = $1"
	args := []any{tenantID}
	param := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ProductID != "" {
		q += " AND g.product_id = " + param(f.ProductID)
	}
	if f.GroupID != "" {
		q += " AND d.group_id = " + param(f.GroupID)
	}
	q += deviceConditions(f, param)
	if f.After != "" {
		q += " AND d.id > " + param(string(f.After))
	}
	q += " ORDER BY d.id LIMIT " + param(pageSize(f.Limit))
	ds, err := queryAll(tx, scanDevice, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// deviceConditions is the SQL of f's attestation, runtime and last-seen filters.
func deviceConditions(f DeviceFilter, param func(any) string) string {
	var q string
	switch f.Attestation {
	case "":
	case AttestNever:
		q += " AND d.last_attest_result = ''"
	default:
		q += " AND d.last_attest_result = " + param(f.Attestation)
	}
	if f.RuntimeSHA512 != "" {
		q += " AND d.runtime_sha512 = " + param(f.RuntimeSHA512)
	}
	if !f.SeenSince.IsZero() {
		q += " AND COALESCE(d.last_seen_at, d.last_attested_at) >= " + param(micros(f.SeenSince))
	}
	if !f.NotSeenSince.IsZero() {
		q += " AND COALESCE(d.last_seen_at, d.last_attested_at, 0) < " + param(micros(f.NotSeenSince))
	}
	return q
}

// FleetCounts counts a tenant's devices by group, last attestation result and reason, and
// runtime: at most limit rows, the largest counts first. The rows are as many as the distinct
// combinations, not as the devices.
func (tx *Tx) FleetCounts(tenantID ident.TenantID, limit int) ([]api.FleetCount, error) {
	rows, err := queryAll(tx, func(r scanner) (c api.FleetCount, err error) {
		return c, r.Scan((*string)(&c.GroupID), &c.GroupName, &c.ProductName, &c.AttestResult, &c.AttestReason,
			&c.RuntimeSHA512, &c.Devices)
	}, `SELECT COALESCE(d.group_id, ''), COALESCE(g.name, ''), COALESCE(p.name, ''), d.last_attest_result,
			d.last_attest_reason, d.runtime_sha512, COUNT(*)
		FROM devices d
		LEFT JOIN device_groups g ON g.id = d.group_id
		LEFT JOIN products p ON p.id = g.product_id
		WHERE d.tenant_id = $1
		GROUP BY COALESCE(d.group_id, ''), COALESCE(g.name, ''), COALESCE(p.name, ''), d.last_attest_result,
			d.last_attest_reason, d.runtime_sha512
		ORDER BY COUNT(*) DESC, 1, 4, 5, 6 LIMIT $2`, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return rows, nil
}

// Device returns a tenant's device, with its product and group names.
func (tx *Tx) Device(tenantID ident.TenantID, id ident.DeviceID) (api.Device, error) {
	return queryOne(tx, scanDevice, fmt.Sprintf("device %s", id),
		deviceSelect+" WHERE d.tenant_id = $1 AND d.id = $2", tenantID, string(id))
}

// DeviceAnyTenant returns a device by ID whatever its tenant (the device API knows only the
// device's ID). ErrNotFound if no tenant has claimed it.
func (tx *Tx) DeviceAnyTenant(id ident.DeviceID) (api.Device, error) {
	return queryOne(tx, scanDevice, fmt.Sprintf("device %s", id), deviceSelect+" WHERE d.id = $1", string(id))
}

// SetDeviceGroup moves a tenant's device into one of its device groups ("" for none).
// ErrNotFound if the group is not the tenant's.
func (tx *Tx) SetDeviceGroup(tenantID ident.TenantID, id ident.DeviceID, groupID ident.GroupID) error {
	group := sql.NullString{String: string(groupID), Valid: groupID != ""}
	if group.Valid {
		ok, err := tx.exists("SELECT 1 FROM device_groups WHERE tenant_id = $1 AND id = $2", tenantID, groupID)
		if err != nil {
			return fmt.Errorf("move device %s: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("device group %q: %w", groupID, ErrNotFound)
		}
	}
	// group_since moves only when the group changes (events before it are not the group's).
	n, err := tx.exec(`UPDATE devices SET group_id = $3, group_since = CASE
			WHEN COALESCE(group_id, '') = $4 THEN group_since ELSE $5 END
		WHERE tenant_id = $1 AND id = $2`,
		tenantID, string(id), group, groupID, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("move device %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	return nil
}

// RevokeDevice marks a tenant's device revoked at the given time, and its certificates with it
// (RevokeDeviceCertificates); revoking twice keeps the first time.
func (tx *Tx) RevokeDevice(tenantID ident.TenantID, id ident.DeviceID, at time.Time) error {
	return tx.atomic(func() error {
		n, err := tx.exec(`UPDATE devices SET state = $3, revoked_at = COALESCE(revoked_at, $4)
			WHERE tenant_id = $1 AND id = $2`, tenantID, string(id), api.DeviceRevoked, micros(at))
		if err != nil {
			return fmt.Errorf("revoke device %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		}
		return tx.RevokeDeviceCertificates(tenantID, id, at)
	})
}
