package attest

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/server/store"
)

// AggregateInterval is the length of the intervals failures of unknown callers are counted in.
const AggregateInterval = time.Hour

// maxSampleMessage bounds the sampled message kept with a count.
const maxSampleMessage = 200

// Aggregate counts the attestation failures of callers that are not a claimed device, per
// interval and reason, keeping one failure of each as a sample (chosen uniformly at random
// among them). Its memory is bounded by the number of reasons: a flood of garbage costs a
// counter increment each, and [Aggregate.Flush] stores the counts in one transaction however
// many failures they stand for. It is safe for concurrent use.
type Aggregate struct {
	mu     sync.Mutex
	counts map[aggKey]*store.FailureCount
}

type aggKey struct {
	interval time.Time
	reason   string
}

// NewAggregate returns an empty aggregate.
func NewAggregate() *Aggregate { return &Aggregate{counts: map[aggKey]*store.FailureCount{}} }

// Add counts a failure at now.
func (g *Aggregate) Add(now time.Time, a store.Attestation) {
	k := aggKey{interval: now.UTC().Truncate(AggregateInterval), reason: a.Reason}
	if len(a.Message) > maxSampleMessage {
		a.Message = a.Message[:maxSampleMessage]
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.counts[k]
	if c == nil {
		c = &store.FailureCount{Interval: k.interval, Reason: a.Reason}
		g.counts[k] = c
	}
	c.Count++
	if rand.Int64N(c.Count) == 0 { // reservoir sampling of one
		c.Sample = store.Attestation{DeviceID: a.DeviceID, Message: a.Message, Source: a.Source}
	}
}

// Pending returns the counts not flushed yet.
func (g *Aggregate) Pending() []store.FailureCount {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]store.FailureCount, 0, len(g.counts))
	for _, c := range g.counts {
		out = append(out, *c)
	}
	return out
}

// Flush adds the pending counts to the store in one transaction and forgets them; if that
// fails they are kept for the next flush.
func (g *Aggregate) Flush(ctx context.Context, st *store.Store) error {
	g.mu.Lock()
	pending := g.counts
	g.counts = map[aggKey]*store.FailureCount{}
	g.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	counts := make([]store.FailureCount, 0, len(pending))
	for _, c := range pending {
		counts = append(counts, *c)
	}
	err := st.Update(ctx, func(tx *store.Tx) error { return tx.AddFailureCounts(counts) })
	if err != nil {
		g.mu.Lock()
		for k, c := range pending {
			if now := g.counts[k]; now != nil {
				now.Count += c.Count
			} else {
				g.counts[k] = c
			}
		}
		g.mu.Unlock()
	}
	return err
}
