package store

import (
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// SigningKey is a signing key the service holds, its private half sealed with the service's
// key-encryption key (the store never sees it in clear).
type SigningKey struct {
	ID        string
	Owner     ident.TenantID // a tenant ID, or "" for the operator
	Purpose   string
	Public    []byte // DER SubjectPublicKeyInfo
	Sealed    []byte
	Active    bool
	CreatedAt time.Time
}

// AddSigningKey stores k; if k.Active, the owner's other keys for the purpose become inactive.
// ErrExists if another active key of the owner and purpose was added concurrently.
func (tx *Tx) AddSigningKey(k SigningKey) error {
	return tx.atomic(func() error {
		if k.Active {
			if _, err := tx.exec("UPDATE signing_keys SET active = $3 WHERE owner = $1 AND purpose = $2 AND active",
				k.Owner, k.Purpose, false); err != nil {
				return fmt.Errorf("add signing key: %w", err)
			}
		}
		_, err := tx.exec(`INSERT INTO signing_keys (id, owner, purpose, public_key, sealed_key, active, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.Owner, k.Purpose, k.Public, k.Sealed, k.Active, micros(k.CreatedAt))
		if tx.dialect.isUnique(err) {
			return fmt.Errorf("%s key of %q: %w", k.Purpose, k.Owner, ErrExists)
		}
		return err
	})
}

// AddFirstSigningKey stores k as the owner's active key for its purpose only if there is none:
// ErrExists if another was added first (by a concurrent request or replica), which the caller
// then reads instead. Unlike AddSigningKey it never deactivates a key, so two replicas making a
// key at once cannot leave two.
func (tx *Tx) AddFirstSigningKey(k SigningKey) error {
	if !k.Active {
		return fmt.Errorf("add first signing key: the key must be active")
	}
	return tx.atomic(func() error {
		_, err := tx.exec(`INSERT INTO signing_keys (id, owner, purpose, public_key, sealed_key, active, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.Owner, k.Purpose, k.Public, k.Sealed, k.Active, micros(k.CreatedAt))
		if tx.dialect.isUnique(err) {
			return fmt.Errorf("%s key of %q: %w", k.Purpose, k.Owner, ErrExists)
		}
		return err
	})
}

// SigningKeys lists an owner's keys for a purpose, active first, then newest first.
func (tx *Tx) SigningKeys(owner ident.TenantID, purpose string) ([]SigningKey, error) {
	rows, err := tx.query(`SELECT id, owner, purpose, public_key, sealed_key, active, created_at
		FROM signing_keys WHERE owner = $1 AND purpose = $2 ORDER BY active DESC, created_at DESC, id`, owner, purpose)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SigningKey
	for rows.Next() {
		var k SigningKey
		var created int64
		if err := rows.Scan(&k.ID, &k.Owner, &k.Purpose, &k.Public, &k.Sealed, &k.Active, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}
