package checkpoint_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/checkpoint"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// chain is a tenant's audit chain in a store that an attacker can also write directly.
type chain struct {
	t      *testing.T
	st     *store.Store
	raw    *sql.DB
	keys   *keyring.Keyring
	tenant string
	now    time.Time
}

func each(t *testing.T, test func(t *testing.T, c *chain)) {
	t.Parallel()
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st, raw := storetest.OpenRaw(t, backend)
			kek, err := pki.ParseKEK(strings.Repeat("17", 32))
			if err != nil {
				t.Fatal(err)
			}
			c := &chain{t: t, st: st, raw: raw, keys: keyring.New(st, kek), tenant: ident.NewID(),
				now: time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)}
			c.update(func(tx *store.Tx) error {
				return tx.CreateTenant(api.Tenant{ID: ident.TenantID(c.tenant), Name: "acme", CreatedAt: c.now})
			})
			test(t, c)
		})
	}
}

func (c *chain) update(fn func(*store.Tx) error) {
	c.t.Helper()
	if err := c.st.Update(context.Background(), fn); err != nil {
		c.t.Fatal(err)
	}
}

// append adds n entries to the chain.
func (c *chain) append(n int) {
	c.t.Helper()
	c.update(func(tx *store.Tx) error {
		for i := 0; i < n; i++ {
			c.now = c.now.Add(time.Second)
			if _, err := tx.AppendAudit(api.AuditEntry{TenantID: ident.TenantID(c.tenant), Time: c.now, Actor: "alice@acme",
				Action: "product.create", Target: fmt.Sprintf("product/%d", i), Source: "127.0.0.1"}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *chain) head() api.AuditHead {
	c.t.Helper()
	var h api.AuditHead
	c.update(func(tx *store.Tx) (err error) { h, err = tx.AuditHead(ident.TenantID(c.tenant)); return err })
	return h
}

func (c *chain) sign() {
	c.t.Helper()
	if _, err := checkpoint.Sign(context.Background(), c.st, c.keys, c.now); err != nil {
		c.t.Fatal(err)
	}
}

func (c *chain) exec(query string, args ...any) {
	c.t.Helper()
	if _, err := c.raw.ExecContext(context.Background(), query, args...); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
}

// pinnedKey is the checkpoint key as a user saved it with 'rampart audit checkpoint-key'.
func (c *chain) pinnedKey() *ecdsa.PublicKey {
	c.t.Helper()
	pems, err := c.keys.PublicPEM(context.Background(), keyring.Operator, keyring.AuditCheckpoint)
	if err != nil {
		c.t.Fatal(err)
	}
	pub, err := api.ParseCheckpointKey([]byte(pems[0]))
	if err != nil {
		c.t.Fatal(err)
	}
	return pub
}

// verify checks the chain as 'rampart audit verify' does: hash chain, checkpoints (signatures
// by pub, then against the chain), and a saved head.
func (c *chain) verify(saved *api.AuditHead, pub *ecdsa.PublicKey) error {
	c.t.Helper()
	var es []api.AuditEntry
	var cps []api.AuditCheckpoint
	if err := c.st.View(context.Background(), func(tx *store.Tx) (err error) {
		if es, err = tx.Audit(ident.TenantID(c.tenant), 0, api.MaxPageSize); err != nil {
			return err
		}
		cps, err = tx.Checkpoints(ident.TenantID(c.tenant), 0, api.MaxPageSize)
		return err
	}); err != nil {
		c.t.Fatal(err)
	}
	for _, cp := range cps {
		if err := cp.Verify(pub); err != nil {
			return err
		}
	}
	if _, _, err := api.VerifyChain(api.GenesisHash, 0, es); err != nil {
		return err
	}
	check := &api.ChainCheck{Head: saved, Checkpoints: cps}
	if err := check.Entries(es); err != nil {
		return err
	}
	return check.Done(es[0].Time, c.now)
}

// cut removes the chain's entries after seq as a database writer would, leaving a valid chain.
func (c *chain) cut(seq int64) {
	c.t.Helper()
	c.exec("DELETE FROM audit WHERE tenant_id = $1 AND seq > $2", c.tenant, seq)
	c.exec("UPDATE audit_heads SET seq = $2, hash = (SELECT hash FROM audit WHERE tenant_id = $1 AND seq = $2) WHERE tenant_id = $1", c.tenant, seq)
}

// rewrite replaces the chain's entries after seq with others, their hashes recomputed, so that
// the chain alone still verifies.
func (c *chain) rewrite(seq int64) {
	c.t.Helper()
	c.cut(seq)
	c.update(func(tx *store.Tx) error {
		for i := 0; i < 3; i++ {
			c.now = c.now.Add(time.Second)
			if _, err := tx.AppendAudit(api.AuditEntry{TenantID: ident.TenantID(c.tenant), Time: c.now, Actor: "mallory@acme",
				Action: "product.create", Target: "product/innocent", Source: "127.0.0.1"}); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestAuditTailCutDetectedByHead(t *testing.T) {
	each(t, func(t *testing.T, c *chain) {
		c.append(3)
		c.sign()
		c.append(3)
		saved := c.head()
		pub := c.pinnedKey()
		if err := c.verify(&saved, pub); err != nil {
			t.Fatalf("intact chain: %v", err)
		}
		c.cut(4) // after the last checkpoint, so only the saved head can tell
		if _, _, err := api.VerifyChain(api.GenesisHash, 0, c.entries()); err != nil {
			t.Fatalf("the cut chain should verify alone, or this test shows nothing: %v", err)
		}
		if err := c.verify(nil, pub); err != nil {
			t.Fatalf("without a saved head the cut past the last checkpoint cannot show: %v", err)
		}
		err := c.verify(&saved, pub)
		if err == nil || !strings.Contains(err.Error(), "tail was cut") {
			t.Fatalf("verify with the saved head: %v, want the tail was cut", err)
		}
		bare := api.AuditHead{Seq: -1, Hash: saved.Hash} // --head HASH
		if err := c.verify(&bare, pub); err == nil {
			t.Fatal("verify with the saved head's hash alone passed")
		}
		// A cut through a signed checkpoint shows even without a saved head.
		c.cut(2)
		if err := c.verify(nil, pub); err == nil || !strings.Contains(err.Error(), "tail was cut") {
			t.Fatalf("cut through a checkpoint: %v, want the tail was cut", err)
		}
	})
}

func TestAuditTailRewriteDetectedByHead(t *testing.T) {
	each(t, func(t *testing.T, c *chain) {
		c.append(3)
		c.sign()
		c.append(3)
		saved := c.head()
		pub := c.pinnedKey()
		c.rewrite(4)
		if _, _, err := api.VerifyChain(api.GenesisHash, 0, c.entries()); err != nil {
			t.Fatalf("the rewritten chain should verify alone, or this test shows nothing: %v", err)
		}
		err := c.verify(&saved, pub)
		if err == nil || !strings.Contains(err.Error(), "rewritten") {
			t.Fatalf("verify with the saved head: %v, want rewritten", err)
		}
		// A rewrite through a signed checkpoint shows without a saved head, and the service
		// refuses to sign the rewritten head.
		c.rewrite(1)
		if err := c.verify(nil, pub); err == nil || !strings.Contains(err.Error(), "rewritten") {
			t.Fatalf("rewrite through a checkpoint: %v, want rewritten", err)
		}
		c.now = c.now.Add(api.CheckpointInterval)
		if _, err := checkpoint.Sign(context.Background(), c.st, c.keys, c.now); !errors.Is(err, checkpoint.ErrRewritten) {
			t.Fatalf("sign over a rewritten chain: %v, want ErrRewritten", err)
		}
	})
}

func TestForgedCheckpointRefused(t *testing.T) {
	each(t, func(t *testing.T, c *chain) {
		c.append(3)
		c.sign()
		pub := c.pinnedKey()
		if err := c.verify(nil, pub); err != nil {
			t.Fatalf("intact chain: %v", err)
		}
		// The attacker cuts the chain and writes a checkpoint of the cut head, signed with a key
		// of its own, since the service's is sealed with a KEK it lacks; it also swaps the
		// public key the service would answer with.
		c.cut(1)
		c.exec("DELETE FROM audit_checkpoints")
		mallory, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		forged := api.AuditCheckpoint{TenantID: ident.TenantID(c.tenant), Seq: 1, Hash: c.head().Hash, SignedAt: c.now}
		digest := sha256.Sum256(forged.SignedMessage())
		sig, _ := ecdsa.SignASN1(rand.Reader, mallory, digest[:])
		forged.Signature = base64.StdEncoding.EncodeToString(sig)
		c.update(func(tx *store.Tx) error { return tx.AddCheckpoint(forged) })
		err := c.verify(nil, pub)
		if err == nil || !strings.Contains(err.Error(), "forged") {
			t.Fatalf("verify with a forged checkpoint: %v, want forged", err)
		}
		// A checkpoint copied from elsewhere with its fields changed fails too.
		c.exec("DELETE FROM audit_checkpoints")
		c.sign()
		c.exec("UPDATE audit_checkpoints SET seq = seq + 5")
		if err := c.verify(nil, pub); err == nil || !strings.Contains(err.Error(), "forged") {
			t.Fatalf("verify with an altered checkpoint: %v, want forged", err)
		}
	})
}

// TestRemovedCheckpointsShow: removing every checkpoint of a chain older than
// api.CheckpointMaxAge (to hide a cut) is seen, because none is recent.
func TestRemovedCheckpointsShow(t *testing.T) {
	each(t, func(t *testing.T, c *chain) {
		c.append(3)
		c.sign()
		c.now = c.now.Add(api.CheckpointMaxAge + time.Hour)
		c.sign() // a day later: signed again though the head did not move
		pub := c.pinnedKey()
		if err := c.verify(nil, pub); err != nil {
			t.Fatalf("intact chain: %v", err)
		}
		c.exec("DELETE FROM audit_checkpoints")
		if err := c.verify(nil, pub); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
			t.Fatalf("verify without checkpoints: %v, want no checkpoint", err)
		}
	})
}

func (c *chain) entries() []api.AuditEntry {
	c.t.Helper()
	var es []api.AuditEntry
	if err := c.st.View(context.Background(), func(tx *store.Tx) (err error) {
		es, err = tx.Audit(ident.TenantID(c.tenant), 0, api.MaxPageSize)
		return err
	}); err != nil {
		c.t.Fatal(err)
	}
	return es
}
