package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/notify"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

func wakeWithin(t *testing.T, ch <-chan notify.Wake, d time.Duration) (notify.Wake, bool) {
	t.Helper()
	select {
	case w, ok := <-ch:
		return w, ok
	case <-time.After(d):
		return notify.Wake{}, false
	}
}

// TestNoticeReachesDevicesOnEveryReplica: two replicas over one store. A notice published on
// one wakes its own devices at once and the other's at its next poll, each once; devices of
// other groups are not woken; when a replica stops, its devices' channels close.
func TestNoticeReachesDevicesOnEveryReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		one, two := notify.New(st, nil, nil), notify.New(st, nil, nil)
		stopped := make(chan struct{})
		go func() { defer close(stopped); two.Run(ctx, 50*time.Millisecond) }()
		tenant, group, other := ident.TenantID(ident.NewID()), ident.GroupID(ident.NewID()), ident.GroupID(ident.NewID())

		here, unsub1 := one.Subscribe(group)
		defer unsub1()
		there, unsub2 := two.Subscribe(group)
		defer unsub2()
		elsewhere, unsub3 := two.Subscribe(other)
		defer unsub3()
		if n := two.Waiting(); n != 2 {
			t.Errorf("replica two: %d waiting, want 2", n)
		}

		if err := one.Publish(ctx, tenant, group, "deployment"); err != nil {
			t.Fatal(err)
		}
		if w, ok := wakeWithin(t, here, time.Second); !ok || w.Reason != "deployment" {
			t.Errorf("replica one's device: %+v, %v", w, ok)
		}
		if w, ok := wakeWithin(t, there, 5*time.Second); !ok || w.Reason != "deployment" || w.Delay < 0 || w.Delay > notify.MaxSpread {
			t.Errorf("replica two's device: %+v, %v", w, ok)
		}
		if w, ok := wakeWithin(t, there, 300*time.Millisecond); ok {
			t.Errorf("replica two delivered the notice twice: %+v", w)
		}
		if w, ok := wakeWithin(t, elsewhere, 100*time.Millisecond); ok {
			t.Errorf("a device of another group was woken: %+v", w)
		}

		cancel()
		<-stopped
		if _, ok := <-there; ok {
			t.Error("a device's channel stays open after its replica stopped")
		}
	})
}

// TestNoticesPruned: notices are read by time, and those older than the cut are removed.
func TestNoticesPruned(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		tenant, group := ident.TenantID(ident.NewID()), ident.GroupID(ident.NewID())
		err := st.Update(ctx, func(tx *store.Tx) error {
			for i := range 3 {
				seq, err := tx.AddNotice(store.Notice{TenantID: tenant, GroupID: group, Reason: "check-now", CreatedAt: t0.Add(time.Duration(i) * time.Hour)})
				if err != nil || seq <= 0 {
					t.Errorf("add notice %d: seq %d, %v", i, seq, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = st.Update(ctx, func(tx *store.Tx) error {
			ns, err := tx.NoticesSince(t0.Add(time.Hour))
			if err != nil {
				return err
			}
			if len(ns) != 2 || !ns[0].CreatedAt.Equal(t0.Add(time.Hour)) || ns[0].GroupID != group || ns[0].TenantID != tenant {
				t.Errorf("notices since the second: %+v", ns)
			}
			n, err := tx.PruneNotices(t0.Add(90 * time.Minute))
			if err != nil || n != 2 {
				t.Errorf("pruned %d, %v; want 2", n, err)
			}
			ns, err = tx.NoticesSince(t0)
			if len(ns) != 1 {
				t.Errorf("after pruning: %+v", ns)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestFeedNoticeReachesItsFollowers: a device waits under its group and its OS feed; a notice
// for the feed (a runtime release) wakes the devices that follow it, of any group, and not
// those of another feed.
func TestFeedNoticeReachesItsFollowers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := notify.New(st, nil, nil)
		retail, eval := notify.FeedKey("Retail"), notify.FeedKey("RetailEval")
		a, unsubA := h.Subscribe(ident.GroupID(ident.NewID()), retail)
		defer unsubA()
		b, unsubB := h.Subscribe(ident.GroupID(ident.NewID()), eval)
		defer unsubB()
		if err := h.Publish(ctx, "", retail, "release"); err != nil {
			t.Fatal(err)
		}
		if w, ok := wakeWithin(t, a, time.Second); !ok || w.Reason != "release" || w.Delay > notify.MaxFeedSpread {
			t.Errorf("a follower of Retail: %+v, %v", w, ok)
		}
		if w, ok := wakeWithin(t, b, 100*time.Millisecond); ok {
			t.Errorf("a follower of RetailEval was woken: %+v", w)
		}
		unsubA()
		if n := h.Waiting(); n != 1 {
			t.Errorf("%d devices wait after one of two left, want 1", n)
		}

		// A replica that stops closes the channel of a device waiting under two keys once.
		ctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); h.Run(ctx, time.Hour) }()
		cancel()
		<-stopped
		if _, ok := <-b; ok {
			t.Error("the channel stays open after the replica stopped")
		}
	})
}
