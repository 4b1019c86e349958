// Package auth provides the service's API tokens: minting them (with the users that hold
// them), and checking one presented with a request — known, not revoked, not expired — while
// recording its last use coarsely.
//
// # Tokens
//
// A token is "rmp_" and 256 random bits in hex. The store keeps only its SHA-256 (a fast hash is
// enough for 256 random bits: there is no dictionary to guard against) and an ID that names
// it in listings and revocation. A token may expire; a revoked token is kept, marked, so that
// its holder is told it was revoked rather than that it is unknown.
//
// # Last use
//
// Authenticating must not write on every request. [Authenticate] writes a token's last use only
// when the recorded one is older than [store.TouchTokenEvery] (an hour), so listings show last
// use to within that.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// NewToken returns a new API token: "rmp_" and 256 random bits in hex.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "rmp_" + hex.EncodeToString(b[:])
}

// TokenHash is how tokens are stored: SHA-256 of the token text.
func TokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// Mint makes a token for the user inside tx, valid for lifetime from now (0: no expiry), and
// returns it and its secret. The caller audits.
func Mint(tx *store.Tx, userID string, now time.Time, lifetime time.Duration) (store.Token, string, error) {
	secret := NewToken()
	t := store.Token{Hash: TokenHash(secret), ID: ident.NewID(), UserID: userID, CreatedAt: now}
	if lifetime > 0 {
		exp := now.Add(lifetime).UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &exp
	}
	if err := tx.AddToken(t); err != nil {
		return store.Token{}, "", err
	}
	return t, secret, nil
}

// NewUser makes a user (u.ID is set here) with a fresh token valid for lifetime (0: no expiry)
// inside tx, and returns both. The caller audits.
func NewUser(tx *store.Tx, u api.User, lifetime time.Duration) (api.User, store.Token, string, error) {
	u.ID = ident.NewID()
	if err := tx.CreateUser(u); err != nil {
		return api.User{}, store.Token{}, "", err
	}
	t, secret, err := Mint(tx, u.ID, u.CreatedAt, lifetime)
	return u, t, secret, err
}

// Errors of [Authenticate]. Their text is fit to show the caller and says what to do.
var (
	ErrUnknown = errors.New("invalid or revoked token")
	ErrRevoked = errors.New("token revoked")
	ErrExpired = errors.New("token expired")
)

// Refused is why a known token was refused, with a message that says what to do. It is
// [ErrRevoked] or [ErrExpired].
type Refused struct {
	Reason error
	At     time.Time
}

func (e *Refused) Error() string {
	return fmt.Sprintf("this %s on %s; ask an Administrator of your tenant for a new token ('rampart token create --user EMAIL'), or make one with 'rampart token create' using another valid token of yours",
		map[error]string{ErrRevoked: "token was revoked", ErrExpired: "token expired"}[e.Reason], e.At.Format(time.RFC3339))
}

// Unwrap returns the reason.
func (e *Refused) Unwrap() error { return e.Reason }

// Check refuses a revoked or, at now, expired token.
func Check(t store.Token, now time.Time) error {
	switch {
	case t.RevokedAt != nil:
		return &Refused{Reason: ErrRevoked, At: *t.RevokedAt}
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return &Refused{Reason: ErrExpired, At: *t.ExpiresAt}
	}
	return nil
}

// Authenticate returns the token with this secret and its user, if it is valid at now, and
// records its use if the recorded last use is stale. [ErrUnknown] if no such token exists, a
// [*Refused] if it was revoked or expired.
func Authenticate(ctx context.Context, st *store.Store, secret string, now time.Time) (store.Token, api.User, error) {
	hash := TokenHash(secret)
	var t store.Token
	var u api.User
	err := st.View(ctx, func(tx *store.Tx) error {
		var err error
		t, u, err = tx.TokenAuth(hash)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return t, u, ErrUnknown
	}
	if err != nil {
		return t, u, err
	}
	if err := Check(t, now); err != nil {
		return t, u, err
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= store.TouchTokenEvery {
		// Last use is advisory: a failed write must not refuse a valid token, and the next
		// request tries again.
		_ = st.Update(ctx, func(tx *store.Tx) error { return tx.TouchToken(hash, now) })
	}
	return t, u, nil
}
