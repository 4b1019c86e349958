package store

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

const tokenColumns = "t.hash, t.id, t.user_id, t.created_at, t.expires_at, t.last_used_at, t.revoked_at"

func scanToken(r scanner, more ...any) (Token, error) {
	var t Token
	var hash []byte
	var created int64
	var expires, used, revoked sql.NullInt64
	err := r.Scan(append([]any{&hash, &t.ID, &t.UserID, &created, &expires, &used, &revoked}, more...)...)
	copy(t.Hash[:], hash)
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
	return t, err
}

// AddToken stores a token's hash for its user. A token without an ID gets a random one.
func (tx *Tx) AddToken(t Token) error {
	if t.ID == "" {
		t.ID = ident.NewID()
	}
	n, err := tx.exec(`INSERT INTO tokens (hash, id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, t.Hash[:], t.ID, t.UserID, micros(t.CreatedAt), nullMicros(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("add token of user %q: %w", t.UserID, err)
	}
	if n == 0 {
		return fmt.Errorf("token: %w", ErrExists)
	}
	return nil
}

// TokenUser returns the user that holds the token with this hash, if it is not revoked.
// ErrNotFound if none (also after the user was removed). It does not look at expiry: see
// [Tx.TokenAuth].
func (tx *Tx) TokenUser(hash [32]byte) (api.User, error) {
	return queryOne(tx, scanUser, "token",
		"SELECT "+userColumns+` FROM tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1 AND t.revoked_at IS NULL`, hash[:])
}

// TokenAuth returns the token with this hash and its user, revoked or expired ones included,
// so that the caller can say which. ErrNotFound if there is none.
func (tx *Tx) TokenAuth(hash [32]byte) (Token, api.User, error) {
	var u api.User
	var created int64
	t, err := queryOne(tx, func(r scanner) (Token, error) {
		return scanToken(r, &u.ID, &u.TenantID, &u.Email, &u.Role, &u.Operator, &created)
	}, "token", "SELECT "+tokenColumns+", "+userColumns+` FROM tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = $1`, hash[:])
	u.CreatedAt = fromMicros(created)
	return t, u, err
}

// TouchTokenEvery is how stale a token's recorded last use may get: [Tx.TouchToken] writes
// at most once per token in this time, so that authenticating is not a write per request.
const TouchTokenEvery = time.Hour

// TouchToken records that the token was used at now, unless its recorded last use is less
// than [TouchTokenEvery] before now. Concurrent calls write once.
func (tx *Tx) TouchToken(hash [32]byte, now time.Time) error {
	_, err := tx.exec(`UPDATE tokens SET last_used_at = $2
		WHERE hash = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`,
		hash[:], micros(now), micros(now.Add(-TouchTokenEvery)))
	if err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// Tokens lists a tenant user's tokens, revoked ones included, oldest first.
func (tx *Tx) Tokens(tenantID ident.TenantID, userID string) ([]Token, error) {
	ts, err := queryAll(tx, func(r scanner) (Token, error) { return scanToken(r) },
		"SELECT "+tokenColumns+` FROM tokens t JOIN users u ON u.id = t.user_id
		WHERE u.tenant_id = $1 AND u.id = $2 ORDER BY t.created_at, t.id`, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// TokenByID returns a token of the tenant by its ID. ErrNotFound if the tenant has none with
// that ID, whoever else does.
func (tx *Tx) TokenByID(tenantID ident.TenantID, id string) (Token, error) {
	return queryOne(tx, func(r scanner) (Token, error) { return scanToken(r) }, fmt.Sprintf("token %q", id),
		"SELECT "+tokenColumns+` FROM tokens t JOIN users u ON u.id = t.user_id
		WHERE u.tenant_id = $1 AND t.id = $2`, tenantID, id)
}

// RevokeToken marks a token of the tenant revoked at now. ErrNotFound if the tenant has no
// such token; revoking a revoked token keeps its first revocation time.
func (tx *Tx) RevokeToken(tenantID ident.TenantID, id string, now time.Time) (Token, error) {
	t, err := tx.TokenByID(tenantID, id)
	if err != nil {
		return t, err
	}
	if t.RevokedAt != nil {
		return t, nil
	}
	if _, err := tx.exec("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
		id, micros(now)); err != nil {
		return t, fmt.Errorf("revoke token %q: %w", id, err)
	}
	t.RevokedAt = &now
	return t, nil
}
