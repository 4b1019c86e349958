package store

import (
	"fmt"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// TPMCARecord is a TPM manufacturer CA the operator trusts, with its certificate.
type TPMCARecord struct {
	api.TPMCA
	CertDER []byte
}

const tpmCAColumns = "id, fingerprint, subject, root, not_after, cert, added_at, added_by"

func scanTPMCA(r scanner) (TPMCARecord, error) {
	var c TPMCARecord
	var notAfter, added int64
	err := r.Scan(&c.ID, &c.Fingerprint, &c.Subject, &c.Root, &notAfter, &c.CertDER, &added, &c.AddedBy)
	c.NotAfter, c.AddedAt = fromMicros(notAfter), fromMicros(added)
	return c, err
}

// AddTPMCA stores a trusted TPM manufacturer CA. ErrExists if a CA with r's ID or
// fingerprint (the same certificate) is stored already.
func (tx *Tx) AddTPMCA(r TPMCARecord) error {
	n, err := tx.exec(`INSERT INTO tpm_cas (`+tpmCAColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING`,
		r.ID, r.Fingerprint, r.Subject, r.Root, micros(r.NotAfter), r.CertDER, micros(r.AddedAt), r.AddedBy)
	if err != nil {
		return fmt.Errorf("add TPM CA %q: %w", r.Subject, err)
	}
	if n == 0 {
		return fmt.Errorf("TPM CA %s: %w", r.Fingerprint, ErrExists)
	}
	return nil
}

// TPMCAs lists the trusted TPM manufacturer CAs in the order they were added, roots before
// intermediates added at the same time.
func (tx *Tx) TPMCAs() ([]TPMCARecord, error) {
	cs, err := queryAll(tx, scanTPMCA, "SELECT "+tpmCAColumns+" FROM tpm_cas ORDER BY added_at, root DESC, subject, id")
	if err != nil {
		return nil, fmt.Errorf("list TPM CAs: %w", err)
	}
	return cs, nil
}

// RemoveTPMCA removes a trusted TPM manufacturer CA and returns it. ErrNotFound if there is
// none with that ID.
func (tx *Tx) RemoveTPMCA(id string) (TPMCARecord, error) {
	c, err := queryOne(tx, scanTPMCA, fmt.Sprintf("TPM CA %q", id),
		"DELETE FROM tpm_cas WHERE id = $1 RETURNING "+tpmCAColumns, id)
	if err != nil {
		return c, fmt.Errorf("remove TPM CA: %w", err)
	}
	return c, nil
}

// SetRootOfTrust records the root of trust a tenant's device passed attestation with, and for
// a TPM its endorsement key's fingerprint. A device recorded with a TPM keeps it: software
// leaves such a device as it is (the appraisal refuses it before it gets here).
func (tx *Tx) SetRootOfTrust(tenantID ident.TenantID, id ident.DeviceID, root, ekFingerprint string) error {
	if root != api.RootOfTrustSoftware && root != api.RootOfTrustTPM {
		return fmt.Errorf("device %s: root of trust %q is neither %s nor %s", id, root,
			api.RootOfTrustSoftware, api.RootOfTrustTPM)
	}
	if root == api.RootOfTrustSoftware {
		ekFingerprint = ""
	}
	n, err := tx.exec(`UPDATE devices SET root_of_trust = $3, ek_fingerprint = $4
		WHERE tenant_id = $1 AND id = $2 AND (root_of_trust <> $5 OR $3 = $5)`,
		tenantID, string(id), root, ekFingerprint, api.RootOfTrustTPM)
	if err != nil {
		return fmt.Errorf("record root of trust of device %s: %w", id, err)
	}
	if n == 0 {
		ok, err := tx.exists("SELECT 1 FROM devices WHERE tenant_id = $1 AND id = $2", tenantID, string(id))
		if err != nil {
			return fmt.Errorf("record root of trust of device %s: %w", id, err)
		}
		if !ok {
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		}
	}
	return nil
}
