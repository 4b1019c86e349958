package report

import (
	"math"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// How fast one device may send events: DefaultRate an hour, in bursts of up to DefaultBurst.
const (
	DefaultRate  = 600
	DefaultBurst = 200
)

// maxTracked bounds the devices a Limiter remembers; past it, those whose bucket is full again
// are forgotten (they would be let through anyway).
const maxTracked = 100_000

// Limiter is a token bucket per device: each event takes a token, and tokens come back at a
// steady rate up to the burst. It lives in one replica's memory, so with N replicas a device
// may send up to N times the rate; the store's daily cap bounds what it can store whatever the
// number of replicas. It is safe for concurrent use.
type Limiter struct {
	perSecond float64
	burst     float64

	mu      sync.Mutex
	buckets map[ident.DeviceID]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of perHour events an hour with bursts of burst.
func NewLimiter(perHour, burst int) *Limiter {
	return &Limiter{perSecond: float64(perHour) / 3600, burst: float64(burst), buckets: map[ident.DeviceID]*bucket{}}
}

// Allow takes n tokens from device's bucket at now and reports whether it could; if not, it
// takes none and says how long until it could.
func (l *Limiter) Allow(device ident.DeviceID, n int, now time.Time) (bool, time.Duration) {
	want := min(float64(n), l.burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[device]
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[device] = b
	}
	l.refill(b, now)
	if b.tokens < want {
		wait := time.Duration(math.Ceil((want - b.tokens) / l.perSecond * float64(time.Second)))
		return false, wait
	}
	b.tokens -= want
	return true, 0
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if now.After(b.at) {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSecond)
		b.at = now
	}
}

// forgetFull drops the buckets that have filled up again.
func (l *Limiter) forgetFull(now time.Time) {
	for id, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, id)
		}
	}
}
