// Package netlimit bounds what one network source can cost the service before it has proved
// anything: requests per second on the routes open to anyone ([Limiter]), and connections held
// open at once, per source and in total ([Listen]).
//
// A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host is usually given a
// whole /64, so counting addresses would let it multiply its share). Both bounds live in one
// replica's memory and remember a bounded number of sources.
package netlimit

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Source returns the key a remote address ("host:port" or a bare host) is counted under.
func Source(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// MaxSources bounds the sources a Limiter remembers. Past it, sources whose bucket is full
// again are forgotten; if none is, new sources share one bucket, so the memory stays bounded
// whatever the number of addresses an attacker uses.
const MaxSources = 100_000

// overflow is the shared bucket of the sources a full Limiter cannot remember.
const overflow = "\x00overflow"

// Limiter is a token bucket per source: each request takes a token, and tokens come back at a
// steady rate up to the burst. It is safe for concurrent use.
type Limiter struct {
	perSecond float64
	burst     float64
	max       int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter of perSecond requests a second per source, in bursts of burst.
func NewLimiter(perSecond float64, burst int) *Limiter {
	return &Limiter{perSecond: perSecond, burst: float64(burst), max: MaxSources, buckets: map[string]*bucket{}}
}

// Allow takes a token from source's bucket at now and reports whether it could; if not, it
// says how long until it could.
func (l *Limiter) Allow(source string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[source]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.forgetFull(now)
		}
		if len(l.buckets) >= l.max {
			source = overflow
			b = l.buckets[overflow]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, at: now}
			l.buckets[source] = b
		}
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false, time.Duration(math.Ceil((1 - b.tokens) / l.perSecond * float64(time.Second)))
	}
	b.tokens--
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
	for s, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.burst {
			delete(l.buckets, s)
		}
	}
}
