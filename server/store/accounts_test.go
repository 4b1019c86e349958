package store_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// TestConcurrentUploadsCannotBothExceedQuota: uploads racing for the last bytes of a tenant's
// quota cannot all pass; exactly as many as fit are stored, and the usage counts just them.
func TestConcurrentUploadsCannotBothExceedQuota(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "acme")
		update(t, s, func(tx *store.Tx) error { return tx.SetImageQuota(tn.ID, 3*1234+100) })
		const uploads = 8
		// On PostgreSQL every transaction has begun and read the tenant before any adds its
		// image, so a check made on what was read would let all pass. (SQLite's writers hold
		// the database from their start, so there they cannot overlap at all.)
		var arrived atomic.Int32
		start := make(chan struct{})
		barrier := func(tx *store.Tx) error {
			if s.Backend() != "postgres" {
				return nil
			}
			if _, err := tx.Tenant(tn.ID); err != nil {
				return err
			}
			if arrived.Add(1) == uploads {
				close(start)
			}
			<-start
			return nil
		}
		var wg sync.WaitGroup
		errs := make([]error, uploads)
		for i := range uploads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now) // 1234 bytes
				errs[i] = s.Update(context.Background(), func(tx *store.Tx) error {
					if err := barrier(tx); err != nil {
						return err
					}
					return tx.AddImage(im)
				})
			}()
		}
		wg.Wait()
		stored := 0
		for _, err := range errs {
			var q *store.QuotaError
			switch {
			case err == nil:
				stored++
			case errors.As(err, &q) && errors.Is(err, store.ErrQuota):
				if q.Quota != 3*1234+100 || q.Size != 1234 || q.Used+q.Size <= q.Quota {
					t.Errorf("quota error %+v does not explain the refusal", q)
				}
			default:
				t.Errorf("upload: %v", err)
			}
		}
		var got api.Tenant
		var ims []api.Image
		view(t, s, func(tx *store.Tx) (err error) {
			if got, err = tx.Tenant(tn.ID); err != nil {
				return err
			}
			ims, err = tx.Images(tn.ID, store.ImageFilter{})
			return err
		})
		if stored != 3 || len(ims) != 3 || got.ImageBytes != 3*1234 {
			t.Fatalf("%d uploads passed, %d images stored, %d bytes counted; want 3, 3, %d", stored, len(ims), got.ImageBytes, 3*1234)
		}
	})
}

// TestImageQuotaCountsOnlyNewImages: the same image again, or a refused one, changes no usage;
// a quota of 0 is no limit.
func TestImageQuotaCountsOnlyNewImages(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "acme")
		im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		update(t, s, func(tx *store.Tx) error { return tx.AddImage(im) })
		err := s.Update(context.Background(), func(tx *store.Tx) error { return tx.AddImage(im) })
		wantErr(t, "same image again", err, store.ErrExists)
		update(t, s, func(tx *store.Tx) error { return tx.SetImageQuota(tn.ID, 2000) })
		err = s.Update(context.Background(), func(tx *store.Tx) error {
			return tx.AddImage(newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now))
		})
		wantErr(t, "over quota", err, store.ErrQuota)
		var got api.Tenant
		view(t, s, func(tx *store.Tx) (err error) { got, err = tx.Tenant(tn.ID); return err })
		if got.ImageBytes != 1234 || got.ImageQuota != 2000 {
			t.Fatalf("tenant %+v: want 1234 bytes used of 2000", got)
		}
		err = s.Update(context.Background(), func(tx *store.Tx) error { return tx.SetImageQuota(ident.TenantID(ident.NewID()), 1) })
		wantErr(t, "quota of a missing tenant", err, store.ErrNotFound)
	})
}

// TestTokenUseRecordedAtMostHourly: recording a token's last use writes only when the recorded
// one is an hour old, so authenticating is not a write per request.
func TestTokenUseRecordedAtMostHourly(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		tn := newTenant(t, s, "acme")
		u := api.User{ID: ident.NewID(), TenantID: tn.ID, Email: "a@acme", Role: api.RoleReader, CreatedAt: now}
		tok := store.Token{Hash: [32]byte{1}, ID: ident.NewID(), UserID: u.ID, CreatedAt: now}
		update(t, s, func(tx *store.Tx) error {
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			return tx.AddToken(tok)
		})
		lastUse := func() *time.Time {
			var got store.Token
			view(t, s, func(tx *store.Tx) (err error) { got, _, err = tx.TokenAuth(tok.Hash); return err })
			return got.LastUsedAt
		}
		t0 := now.UTC().Truncate(time.Microsecond)
		for i, step := range []struct {
			at   time.Time
			want time.Time
		}{
			{t0, t0},
			{t0.Add(59 * time.Minute), t0},
			{t0.Add(time.Hour), t0.Add(time.Hour)},
		} {
			update(t, s, func(tx *store.Tx) error { return tx.TouchToken(tok.Hash, step.at) })
			if got := lastUse(); got == nil || !got.Equal(step.want) {
				t.Fatalf("step %d: last use %v, want %v", i, got, step.want)
			}
		}
	})
}

// TestTokensMadeBeforeExpiryKeepWorking: migration 0030 gives the tokens that existed before it
// an ID, no expiry and no revocation, and counts the images tenants already keep.
func TestTokensMadeBeforeExpiryKeepWorking(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn := newTenant(t, s, "acme")
		im := newImage(tn.ID, ident.ComponentID(ident.NewID()), api.ImageApplication, now)
		update(t, s, func(tx *store.Tx) error { return tx.AddImage(im) })
		// Back to the schema before 0030, with a token as it stored them.
		for _, q := range []string{
			"DROP TABLE audit_checkpoints", "DROP INDEX tokens_id",
			"ALTER TABLE tokens DROP COLUMN id", "ALTER TABLE tokens DROP COLUMN expires_at",
			"ALTER TABLE tokens DROP COLUMN last_used_at", "ALTER TABLE tokens DROP COLUMN revoked_at",
			"ALTER TABLE tenants DROP COLUMN image_quota", "ALTER TABLE tenants DROP COLUMN image_bytes",
			"DELETE FROM schema_migrations WHERE version = 30",
			"INSERT INTO users (id, tenant_id, email, email_key, role, operator, created_at) VALUES ('u1', '" + string(tn.ID) + "', 'old@acme', 'old@acme', 'Reader', false, 1)",
			"INSERT INTO tokens (hash, user_id, created_at) VALUES ($1, 'u1', 1)",
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, bytes.Repeat([]byte{0xab}, 16*2))
			}
			if _, err := s.DB().ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		var hash [32]byte
		copy(hash[:], bytes.Repeat([]byte{0xab}, 32))
		var tok store.Token
		var u api.User
		var got api.Tenant
		view(t, s, func(tx *store.Tx) (err error) {
			if tok, u, err = tx.TokenAuth(hash); err != nil {
				return err
			}
			got, err = tx.Tenant(tn.ID)
			return err
		})
		if u.Email != "old@acme" || !ident.IsID(tok.ID) || tok.ExpiresAt != nil || tok.RevokedAt != nil {
			t.Fatalf("old token after migration: %+v of %+v; want an ID, no expiry, not revoked", tok, u)
		}
		if got.ImageBytes != im.Size || got.ImageQuota != 0 {
			t.Fatalf("tenant after migration: %+v; want %d bytes counted, no quota", got, im.Size)
		}
	})
}
