// Package checkpoint signs checkpoints of the audit chains: the service's signature over a
// chain's last entry number and hash at a time, made with the operator's audit-checkpoint key
// ([keyring.AuditCheckpoint]).
//
// # Why
//
// A hash chain shows an edited, removed or reordered entry, but whoever can write the database
// can cut the chain's tail, or rewrite it from an edit onwards, and leave a chain that verifies.
// A checkpoint pins the head as it was: the key that signs it is sealed with the key-encryption
// key, which the database does not hold, so a checkpoint written into the store without the key
// fails verification against the public key a user pinned, and a cut tail no longer reaches the
// last checkpoint. Checkpoints are signed for every chain whose head moved, and at least every
// [api.CheckpointInterval] for every chain, so that removing recent checkpoints shows too.
package checkpoint

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// Due reports whether a chain with this head needs a new checkpoint at now, given its latest
// (nil for none): when the head moved, or the latest is [api.CheckpointInterval] old, less an
// hour so that an hourly job never misses a day.
func Due(head api.AuditHead, latest *api.AuditCheckpoint, now time.Time) bool {
	return latest == nil || latest.Seq != head.Seq || latest.Hash != head.Hash ||
		now.Sub(latest.SignedAt) >= api.CheckpointInterval-time.Hour
}

// ErrRewritten is returned when a chain no longer holds the entry its latest checkpoint signed:
// someone rewrote or cut it behind the service's back. Sign does not sign such a chain.
var ErrRewritten = errors.New("audit chain no longer holds its last signed checkpoint")

// extends checks that the chain whose head is head still holds the entry last signed.
func extends(tx *store.Tx, tenant ident.TenantID, last *api.AuditCheckpoint, head api.AuditHead) error {
	if last == nil {
		return nil
	}
	if head.Seq < last.Seq {
		return fmt.Errorf("chain %q has %d entries, checkpoint signed %d: %w", tenant, head.Seq, last.Seq, ErrRewritten)
	}
	es, err := tx.Audit(tenant, last.Seq-1, 1)
	if err != nil {
		return err
	}
	if len(es) != 1 || es[0].Seq != last.Seq || es[0].Hash != last.Hash {
		return fmt.Errorf("chain %q, entry %d: %w", tenant, last.Seq, ErrRewritten)
	}
	return nil
}

// Sign signs, at now, a checkpoint of every chain that is [Due] and still holds its last signed
// entry, and returns how many it signed. A chain that does not is reported ([ErrRewritten]).
func Sign(ctx context.Context, st *store.Store, keys *keyring.Keyring, now time.Time) (int, error) {
	var heads map[ident.TenantID]api.AuditHead
	err := st.View(ctx, func(tx *store.Tx) error {
		var err error
		heads, err = tx.AuditHeads()
		return err
	})
	if err != nil || len(heads) == 0 {
		return 0, err
	}
	signer, err := keys.Signer(ctx, keyring.Operator, keyring.AuditCheckpoint)
	if err != nil {
		return 0, fmt.Errorf("audit checkpoint key: %w", err)
	}
	now = now.UTC().Truncate(time.Microsecond)
	signed := 0
	var errs []error // one chain's failure does not stop the others' checkpoints
	for tenant, head := range heads {
		err := st.Update(ctx, func(tx *store.Tx) error {
			latest, err := tx.LatestCheckpoint(tenant)
			var last *api.AuditCheckpoint
			if err == nil {
				last = &latest
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if !Due(head, last, now) {
				return nil
			}
			if err := extends(tx, tenant, last, head); err != nil {
				return err
			}
			c := api.AuditCheckpoint{TenantID: tenant, Seq: head.Seq, Hash: head.Hash, SignedAt: now}
			digest := sha256.Sum256(c.SignedMessage())
			sig, err := signer.Sign(rand.Reader, digest[:], nil)
			if err != nil {
				return err
			}
			c.Signature = base64.StdEncoding.EncodeToString(sig)
			signed++
			return tx.AddCheckpoint(c)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("sign audit checkpoint: %w", err))
		}
	}
	return signed, errors.Join(errs...)
}
