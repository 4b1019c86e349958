// Package keyring provides the signing keys the security service holds: each tenant's
// image-signing and TUF keys, and the operator's runtime-signing, OS-feed TUF and audit-checkpoint keys. Keys are
// ECDSA P-256, made on first use, and kept in the store sealed with the service's
// key-encryption key; only their public halves ever leave the service.
package keyring

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

// Purposes of keys.
const (
	Image        = "image"         // a tenant's image-signing key (images are re-signed on upload)
	Runtime      = "runtime"       // the operator's runtime-signing key
	TUFRoot      = "tuf-root"      // TUF root role
	TUFTargets   = "tuf-targets"   // TUF targets role
	TUFSnapshot  = "tuf-snapshot"  // TUF snapshot role (online)
	TUFTimestamp = "tuf-timestamp" // TUF timestamp role (online)

	// AuditCheckpoint is the operator's key that signs checkpoints of every audit chain's head.
	// Sealed with the KEK like the others, so whoever can write the database but lacks the KEK
	// cannot sign a checkpoint; users pin its public half.
	AuditCheckpoint = "audit-checkpoint"
)

// Operator is the owner of the operator's keys.
const Operator ident.TenantID = ""

// Keyring hands out the service's signing keys.
type Keyring struct {
	st  *store.Store
	kek *pki.KEK

	mu      sync.Mutex
	signers map[string]*ecdsa.PrivateKey // by key ID
}

// New returns the keyring over st, whose keys are sealed with kek.
func New(st *store.Store, kek *pki.KEK) *Keyring {
	return &Keyring{st: st, kek: kek, signers: map[string]*ecdsa.PrivateKey{}}
}

func sealPurpose(k store.SigningKey) string {
	return "signing-key:" + string(k.Owner) + ":" + k.Purpose + ":" + k.ID
}

// keys returns owner's keys for purpose, active first, making the first one if there is none.
func (r *Keyring) keys(ctx context.Context, owner ident.TenantID, purpose string) ([]store.SigningKey, error) {
	var keys []store.SigningKey
	err := r.st.View(ctx, func(tx *store.Tx) error {
		var err error
		keys, err = tx.SigningKeys(owner, purpose)
		return err
	})
	if err != nil || len(keys) > 0 {
		return keys, err
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	spki, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	k := store.SigningKey{ID: ident.NewID(), Owner: owner, Purpose: purpose, Public: spki, Active: true,
		CreatedAt: time.Now().UTC()}
	k.Sealed = r.kek.Seal(sealPurpose(k), pkcs8)
	err = r.st.Update(ctx, func(tx *store.Tx) error {
		if keys, err = tx.SigningKeys(owner, purpose); err != nil || len(keys) > 0 {
			return err
		}
		if err := tx.AddFirstSigningKey(k); err != nil {
			return err
		}
		keys = []store.SigningKey{k}
		return nil
	})
	if errors.Is(err, store.ErrExists) { // made concurrently elsewhere: use that one
		return r.keys(ctx, owner, purpose)
	}
	return keys, err
}

// Signer returns owner's active key for purpose, making it on first use.
func (r *Keyring) Signer(ctx context.Context, owner ident.TenantID, purpose string) (crypto.Signer, error) {
	keys, err := r.keys(ctx, owner, purpose)
	if err != nil {
		return nil, err
	}
	k := keys[0] // active first
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.signers[k.ID]; ok {
		return s, nil
	}
	pkcs8, err := r.kek.Open(sealPurpose(k), k.Sealed)
	if err != nil {
		return nil, fmt.Errorf("%s key of %q: %w", purpose, owner, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return nil, err
	}
	s, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s key of %q is not ECDSA", purpose, owner)
	}
	r.signers[k.ID] = s
	return s, nil
}

// Public returns owner's public keys for purpose, active first, making the first on first use.
func (r *Keyring) Public(ctx context.Context, owner ident.TenantID, purpose string) ([]*ecdsa.PublicKey, error) {
	keys, err := r.keys(ctx, owner, purpose)
	if err != nil {
		return nil, err
	}
	out := make([]*ecdsa.PublicKey, 0, len(keys))
	for _, k := range keys {
		pub, err := x509.ParsePKIXPublicKey(k.Public)
		if err != nil {
			return nil, err
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s key %s is not ECDSA", purpose, k.ID)
		}
		out = append(out, ec)
	}
	return out, nil
}

// PublicPEM is Public as PEM blocks, as the device protocol carries them.
func (r *Keyring) PublicPEM(ctx context.Context, owner ident.TenantID, purpose string) ([]string, error) {
	pubs, err := r.Public(ctx, owner, purpose)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(pubs))
	for i, p := range pubs {
		der, _ := x509.MarshalPKIXPublicKey(p)
		out[i] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return out, nil
}
