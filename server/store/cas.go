package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// CARecord is a tenant CA as stored: its certificate and its private key sealed with the
// service's key-encryption key (the store never sees the key in clear).
type CARecord struct {
	api.CA
	CertDER   []byte
	SealedKey []byte
}

const caColumns = "id, tenant_id, subject, fingerprint, not_before, not_after, active, cert, sealed_key"

func scanCA(r scanner) (CARecord, error) {
	var c CARecord
	var notBefore, notAfter int64
	err := r.Scan(&c.ID, &c.TenantID, &c.Subject, &c.Fingerprint, &notBefore, &notAfter, &c.Active,
		&c.CertDER, &c.SealedKey)
	c.NotBefore, c.NotAfter = fromMicros(notBefore), fromMicros(notAfter)
	return c, err
}

// LockTenant locks a tenant's row until the transaction ends, so that changes to the tenant's
// CAs made by concurrent transactions (or replicas) run one after the other. ErrNotFound if the
// tenant does not exist. On SQLite, write transactions are serial already.
func (tx *Tx) LockTenant(id ident.TenantID) error {
	var got string
	err := tx.queryRow("SELECT id FROM tenants WHERE id = $1"+tx.dialect.forUpdate, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return err
}

// AddCA stores a tenant CA. If r.Active, every other CA of the tenant becomes inactive (they
// stay trusted until they expire). ErrNotFound if the tenant does not exist; ErrExists if a CA
// has r's ID.
func (tx *Tx) AddCA(r CARecord) error {
	// Lock the tenant's row so that additions to one tenant's CAs run one after the other: each
	// sees the CAs added before it, so at most one stays active, and insertion order is kept.
	if err := tx.LockTenant(r.TenantID); err != nil {
		return fmt.Errorf("add CA %q: %w", r.Subject, err)
	}
	// created_at orders CAs of one NotBefore by insertion, so it must grow even if the clock
	// does not.
	var last int64
	if err := tx.queryRow("SELECT COALESCE(MAX(created_at), 0) FROM tenant_cas WHERE tenant_id = $1",
		r.TenantID).Scan(&last); err != nil {
		return fmt.Errorf("add CA %q: %w", r.Subject, err)
	}
	created := max(micros(time.Now()), last+1)
	return tx.atomic(func() error {
		if r.Active {
			if _, err := tx.exec("UPDATE tenant_cas SET active = $2 WHERE tenant_id = $1 AND active",
				r.TenantID, false); err != nil {
				return fmt.Errorf("add CA %q: %w", r.Subject, err)
			}
		}
		n, err := tx.exec(`INSERT INTO tenant_cas (`+caColumns+`, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			r.ID, r.TenantID, r.Subject, r.Fingerprint, micros(r.NotBefore), micros(r.NotAfter), r.Active,
			r.CertDER, r.SealedKey, created)
		if err != nil {
			return fmt.Errorf("add CA %q: %w", r.Subject, err)
		}
		if n == 0 {
			return fmt.Errorf("CA %q: %w", r.ID, ErrExists)
		}
		return nil
	})
}

// CAs lists a tenant's CAs, newest (by NotBefore, then insertion) first.
func (tx *Tx) CAs(tenantID ident.TenantID) ([]CARecord, error) {
	cs, err := queryAll(tx, scanCA, "SELECT "+caColumns+` FROM tenant_cas WHERE tenant_id = $1
		ORDER BY not_before DESC, created_at DESC`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list CAs: %w", err)
	}
	return cs, nil
}

// TenantsWithCA lists the IDs of the tenants that have at least one CA.
func (tx *Tx) TenantsWithCA() ([]ident.TenantID, error) {
	ids, err := queryAll(tx, func(r scanner) (id ident.TenantID, err error) { return id, r.Scan(&id) },
		"SELECT DISTINCT tenant_id FROM tenant_cas")
	if err != nil {
		return nil, fmt.Errorf("list tenants with a CA: %w", err)
	}
	return ids, nil
}
