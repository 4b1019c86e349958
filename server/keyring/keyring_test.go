package keyring_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

func TestSignerMadeOnceAndStable(t *testing.T) {
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, backend)
			kek, _ := pki.ParseKEK(strings.Repeat("07", 32))
			ctx := context.Background()
			// Two replicas make the operator's runtime key at once: one key results.
			a, b := keyring.New(st, kek), keyring.New(st, kek)
			var wg sync.WaitGroup
			pubs := make([][]*ecdsa.PublicKey, 8)
			for i := range pubs {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					r := a
					if i%2 == 1 {
						r = b
					}
					p, err := r.Public(ctx, keyring.Operator, keyring.Runtime)
					if err != nil {
						t.Error(err)
					}
					pubs[i] = p
				}(i)
			}
			wg.Wait()
			for _, p := range pubs {
				if len(p) != 1 || !p[0].Equal(pubs[0][0]) {
					t.Fatalf("replicas disagree on the key: %v", pubs)
				}
			}
			s, err := b.Signer(ctx, keyring.Operator, keyring.Runtime)
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256([]byte("rampart"))
			sig, err := s.Sign(rand.Reader, digest[:], nil)
			if err != nil || !ecdsa.VerifyASN1(pubs[0][0], digest[:], sig) {
				t.Fatalf("signer does not match the public key: %v", err)
			}
			// Another owner or purpose is another key.
			other, _ := a.Public(ctx, "tenant-1", keyring.Runtime)
			if other[0].Equal(pubs[0][0]) {
				t.Error("two owners share a key")
			}
		})
	}
}

// TestSealedKeyUnderAnotherKEKRefused: a database copied to a service with another KEK cannot use
// its keys.
func TestSealedKeyUnderAnotherKEKRefused(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	kek1, _ := pki.ParseKEK(strings.Repeat("07", 32))
	kek2, _ := pki.ParseKEK(strings.Repeat("08", 32))
	ctx := context.Background()
	if _, err := keyring.New(st, kek1).Signer(ctx, "t", keyring.Image); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.New(st, kek2).Signer(ctx, "t", keyring.Image); err == nil {
		t.Fatal("a key sealed under another KEK was opened")
	}
	var n int
	st.View(ctx, func(tx *store.Tx) error {
		keys, _ := tx.SigningKeys("t", keyring.Image)
		n = len(keys)
		return nil
	})
	if n != 1 {
		t.Errorf("%d keys, want 1", n)
	}
}
