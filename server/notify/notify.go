// Package notify wakes devices that keep the device API's notification channel open: a stream
// over the device's mutual-TLS connection, on which the service writes a line when a notice for
// the device's group arrives (a new deployment, `rampart device-group notify`).
//
// Notices go through the store, so that every replica wakes its own waiting devices: each
// replica reads the notices of the last [Margin] every poll interval and delivers those it has
// not delivered yet. A notice published by this replica is delivered at once as well.
package notify

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Margin is how far back each poll reads: notices commit out of sequence order on PostgreSQL,
// and replicas' clocks differ by a little, so a poll rereads this much and skips what it has
// delivered.
const Margin = 30 * time.Second

// Spread bounds the jitter: the devices of a group are told to check in within
// min(n × PerDevice, MaxSpread) of a notice, n being how many wait on this replica, so that a
// large group does not arrive at once. A feed's notice (a runtime release published or
// withdrawn) reaches every device that follows the feed, of every tenant, and each of them
// downloads a runtime: it is spread over up to MaxFeedSpread.
const (
	PerDevice     = 10 * time.Millisecond
	MaxSpread     = 30 * time.Second
	MaxFeedSpread = 10 * time.Minute
)

// FeedKey is the key under which the devices that follow an OS feed wait, and under which a
// notice for the feed is stored (in place of a group ID: the two never collide, a group ID
// being a UUID).
func FeedKey(feed string) ident.GroupID { return ident.GroupID("feed/" + feed) }

// keep is how long notices stay in the store.
const keep = time.Hour

// Wake is what a waiting device is told: why to check in, and how long to wait first.
type Wake struct {
	Reason string
	Delay  time.Duration
}

type waiter struct {
	ch chan Wake // buffered 1
}

// Hub holds the devices waiting on this replica, by device group.
type Hub struct {
	st  *store.Store
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	waiters map[ident.GroupID]map[*waiter]struct{}
	seen    map[int64]time.Time // notices delivered, by Seq, with their time
}

// New returns a hub over st. now may be nil (time.Now).
func New(st *store.Store, log *slog.Logger, now func() time.Time) *Hub {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{st: st, log: log, now: now, waiters: map[ident.GroupID]map[*waiter]struct{}{}, seen: map[int64]time.Time{}}
}

// Waiting returns how many devices wait on this replica.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	devices := map[*waiter]bool{} // a device waits under its group and its feed
	for _, ws := range h.waiters {
		for w := range ws {
			devices[w] = true
		}
	}
	return len(devices)
}

// Subscribe registers a device under its keys — its group's ID (none if it is in none) and
// [FeedKey] of its OS feed — and returns the channel on which it is woken (at most one wake is
// pending: a device that has not read the last one needs no second) and the function that
// unregisters it. The channel is closed when the hub closes.
func (h *Hub) Subscribe(keys ...ident.GroupID) (<-chan Wake, func()) {
	w := &waiter{ch: make(chan Wake, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(w.ch)
		return w.ch, func() {}
	}
	for _, k := range keys {
		ws := h.waiters[k]
		if ws == nil {
			ws = map[*waiter]struct{}{}
			h.waiters[k] = ws
		}
		ws[w] = struct{}{}
	}
	return w.ch, func() { h.remove(keys, w) }
}

func (h *Hub) remove(keys []ident.GroupID, w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		if ws := h.waiters[k]; ws != nil {
			delete(ws, w)
			if len(ws) == 0 {
				delete(h.waiters, k)
			}
		}
	}
}

// Publish records a notice for a tenant's group in the store, for every replica, and delivers
// it to the devices waiting here.
func (h *Hub) Publish(ctx context.Context, tenant ident.TenantID, group ident.GroupID, reason string) error {
	n := store.Notice{TenantID: tenant, GroupID: group, Reason: reason, CreatedAt: h.now()}
	err := h.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		n.Seq, err = tx.AddNotice(n)
		return err
	})
	if err != nil {
		return err
	}
	h.Deliver(n)
	return nil
}

// Deliver wakes the devices waiting here for n, a notice the caller added to the store (with
// [store.Tx.AddNotice], in a transaction of its own that has committed).
func (h *Hub) Deliver(n store.Notice) { h.deliver([]store.Notice{n}) }

// deliver wakes the devices waiting for each notice not delivered before, each with a delay
// spread over its group's waiters.
func (h *Hub) deliver(ns []store.Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range ns {
		if _, done := h.seen[n.Seq]; done {
			continue
		}
		h.seen[n.Seq] = n.CreatedAt
		ws := h.waiters[n.GroupID]
		limit := MaxSpread
		if strings.HasPrefix(string(n.GroupID), "feed/") {
			limit = MaxFeedSpread
		}
		spread := min(time.Duration(len(ws))*PerDevice, limit)
		for w := range ws {
			var delay time.Duration
			if spread > 0 {
				delay = rand.N(spread)
			}
			select {
			case w.ch <- Wake{Reason: n.Reason, Delay: delay}:
			default: // a wake is pending already
			}
		}
	}
}

// Run polls the store every interval for notices published by any replica and delivers them,
// and removes notices older than an hour. When ctx ends it closes every device's channel (their
// streams end, and they come back to another replica or after a restart).
func (h *Hub) Run(ctx context.Context, interval time.Duration) {
	defer h.close()
	start := h.now()
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := h.now()
		since := now.Add(-Margin)
		if first := start.Add(-time.Second); since.Before(first) {
			since = first // nothing from before this replica started
		}
		var ns []store.Notice
		err := h.st.View(ctx, func(tx *store.Tx) error {
			var err error
			ns, err = tx.NoticesSince(since)
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read device group notices", "err", err)
			}
			continue
		}
		h.deliver(ns)
		h.forget(now.Add(-2 * Margin))
		if now.Sub(lastPrune) > time.Minute {
			lastPrune = now
			if err := h.st.Update(ctx, func(tx *store.Tx) error {
				_, err := tx.PruneNotices(now.Add(-keep))
				return err
			}); err != nil && ctx.Err() == nil {
				h.log.Warn("prune device group notices", "err", err)
			}
		}
	}
}

// forget drops delivered notices older than before: polls no longer read them.
func (h *Hub) forget(before time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for seq, at := range h.seen {
		if at.Before(before) {
			delete(h.seen, seq)
		}
	}
}

func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	closed := map[*waiter]bool{} // a device waits under two keys: its channel closes once
	for k, ws := range h.waiters {
		for w := range ws {
			if !closed[w] {
				closed[w] = true
				close(w.ch)
			}
		}
		delete(h.waiters, k)
	}
}
