package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/server/store"
)

func TestTUFMetadataVersions(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		update(t, s, func(tx *store.Tx) error {
			err := tx.PutTUFMetadata("group/g", "root", 1, []byte("r1"), now)
			wantErr(t, "metadata of a repository that does not exist", err, store.ErrNotFound)
			r, created, err := tx.LockTUFRepo("group/g", "tenant", now)
			if err != nil || !created || r != (store.TUFRepo{Repo: "group/g", Owner: "tenant"}) {
				t.Errorf("LockTUFRepo = %+v, %v, %v; want it made", r, created, err)
			}
			for v := int64(1); v <= 3; v++ {
				if err := tx.PutTUFMetadata("group/g", "root", v, []byte{'r', byte('0' + v)}, now.Add(time.Duration(v)*time.Hour)); err != nil {
					return err
				}
			}
			return tx.PutTUFMetadata("group/g", "timestamp", 7, []byte("t7"), now)
		})
		update(t, s, func(tx *store.Tx) error {
			r, created, err := tx.LockTUFRepo("group/g", "someone else", now)
			if err != nil || created || r.Owner != "tenant" {
				t.Errorf("LockTUFRepo again = %+v, %v, %v; want the stored owner", r, created, err)
			}
			err = tx.PutTUFMetadata("group/g", "root", 2, []byte("other"), now)
			wantErr(t, "a version again", err, store.ErrExists)
			return nil
		})
		view(t, s, func(tx *store.Tx) error {
			newest, err := tx.TUFMetadata("group/g", "root", 0)
			if err != nil || newest.Version != 3 || string(newest.Body) != "r3" ||
				!newest.Expires.Equal(now.Add(3*time.Hour).Truncate(time.Microsecond)) {
				t.Errorf("newest root = %+v, %v", newest, err)
			}
			v2, err := tx.TUFMetadata("group/g", "root", 2)
			if err != nil || string(v2.Body) != "r2" {
				t.Errorf("root 2 = %+v, %v", v2, err)
			}
			_, err = tx.TUFMetadata("group/g", "root", 4)
			wantErr(t, "a version not stored", err, store.ErrNotFound)
			_, err = tx.TUFMetadata("group/g", "snapshot", 0)
			wantErr(t, "a role not stored", err, store.ErrNotFound)
			_, err = tx.TUFMetadata("group/h", "root", 0)
			wantErr(t, "another repository", err, store.ErrNotFound)
			return nil
		})
		update(t, s, func(tx *store.Tx) error {
			if n, err := tx.PruneTUFMetadata("group/g", "root", 3); err != nil || n != 2 {
				t.Errorf("PruneTUFMetadata = %d, %v; want 2 deleted", n, err)
			}
			_, err := tx.TUFMetadata("group/g", "root", 1)
			wantErr(t, "a pruned version", err, store.ErrNotFound)
			if ts, err := tx.TUFMetadata("group/g", "timestamp", 0); err != nil || ts.Version != 7 {
				t.Errorf("another role was pruned: %+v, %v", ts, err)
			}
			_, _, err = tx.LockTUFRepo("feed/Retail", "", now)
			return err
		})
		view(t, s, func(tx *store.Tx) error {
			repos, err := tx.TUFRepos()
			want := []store.TUFRepo{{Repo: "feed/Retail", Owner: ""}, {Repo: "group/g", Owner: "tenant"}}
			if err != nil || !slices.Equal(repos, want) {
				t.Errorf("TUFRepos = %+v, %v; want %+v", repos, err, want)
			}
			return nil
		})
	})
}

// TestLockTUFRepoSerialises: transactions that read a repository's newest version and write
// the next, under the lock, each see the one before's, so none writes a version twice.
func TestLockTUFRepoSerialises(t *testing.T) {
	each(t, func(t *testing.T, s *store.Store) {
		const n = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				err := s.Update(context.Background(), func(tx *store.Tx) error {
					if _, _, err := tx.LockTUFRepo("group/g", "tenant", now); err != nil {
						return err
					}
					var next int64 = 1
					if f, err := tx.TUFMetadata("group/g", "targets", 0); err == nil {
						next = f.Version + 1
					}
					return tx.PutTUFMetadata("group/g", "targets", next, []byte("t"), now)
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		view(t, s, func(tx *store.Tx) error {
			f, err := tx.TUFMetadata("group/g", "targets", 0)
			if err != nil || f.Version != n {
				t.Errorf("newest version %d (%v), want %d", f.Version, err, n)
			}
			return nil
		})
	})
}
