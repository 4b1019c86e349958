// Package logring keeps the service's recent log records of each tenant in memory, so that a
// tenant's Administrator can hand them to support (`rampart get-support-data`) without access
// to the service's own logs, which hold every tenant's.
//
// [Ring.Handler] wraps the service's slog handler: every record that names a tenant (an
// attribute "tenant") is kept in that tenant's ring, whatever the level the service logs at, and
// is passed on as before. A ring holds at most [PerTenant] records and forgets the oldest first;
// at most [MaxTenants] tenants have a ring, the one least recently written dropped first. So the
// memory held is bounded whatever the traffic.
//
// # Secrets
//
// The service logs no secrets, and the ring is a second guard: an attribute whose key names a
// secret (token, key, code, secret, password, kek) is kept as "[redacted]", and every value is
// cut to [MaxValue] bytes.
package logring

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
)

// Bounds of what a ring holds.
const (
	PerTenant  = 2000
	MaxTenants = 10000
	MaxValue   = 512
	MaxAttrs   = 16
)

// TenantKey is the attribute that names the tenant a record concerns.
const TenantKey = "tenant"

// Ring keeps recent log records by tenant. Its zero value is not usable; call [New].
type Ring struct {
	mu      sync.Mutex
	tenants map[string]*tenantRing
	clock   uint64 // orders writes, for dropping the least recently written tenant
}

type tenantRing struct {
	records []api.LogRecord // a circular buffer of at most PerTenant
	next    int
	written uint64
}

// New returns an empty ring.
func New() *Ring { return &Ring{tenants: map[string]*tenantRing{}} }

// Recent returns the tenant's records at or after since, oldest first.
func (r *Ring) Recent(tenant string, since time.Time) []api.LogRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tenants[tenant]
	if t == nil {
		return []api.LogRecord{}
	}
	out := make([]api.LogRecord, 0, len(t.records))
	for i := range t.records {
		rec := t.records[(t.next+i)%len(t.records)]
		if !rec.Time.Before(since) {
			out = append(out, rec)
		}
	}
	return out
}

func (r *Ring) add(tenant string, rec api.LogRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock++
	t := r.tenants[tenant]
	if t == nil {
		if len(r.tenants) >= MaxTenants {
			r.dropOldest()
		}
		t = &tenantRing{}
		r.tenants[tenant] = t
	}
	t.written = r.clock
	if len(t.records) < PerTenant {
		t.records = append(t.records, rec)
		return
	}
	t.records[t.next] = rec
	t.next = (t.next + 1) % PerTenant
}

func (r *Ring) dropOldest() {
	var oldest string
	var at uint64
	for name, t := range r.tenants {
		if oldest == "" || t.written < at {
			oldest, at = name, t.written
		}
	}
	delete(r.tenants, oldest)
}

// Handler returns a handler that keeps every record naming a tenant in r and passes every
// record that next is enabled for on to next.
func (r *Ring) Handler(next slog.Handler) slog.Handler { return &handler{ring: r, next: next} }

type handler struct {
	ring  *Ring
	next  slog.Handler
	attrs []slog.Attr // from WithAttrs, groups flattened into their keys
	group string      // the prefix of keys from WithGroup
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	var tenant string
	out := api.LogRecord{Time: rec.Time.UTC(), Level: rec.Level.String(), Message: safetext.Line(rec.Message, MaxValue),
		Attrs: map[string]string{}}
	add := func(prefix string, a slog.Attr) {
		key := prefix + a.Key
		if key == TenantKey {
			tenant = a.Value.Resolve().String()
		}
		if len(out.Attrs) < MaxAttrs {
			out.Attrs[key] = value(key, a.Value)
		}
	}
	for _, a := range h.attrs {
		add("", a)
	}
	rec.Attrs(func(a slog.Attr) bool { add(h.group, a); return true })
	if tenant != "" {
		h.ring.add(tenant, out)
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clone(h.attrs)
	for _, a := range attrs {
		a.Key = h.group + a.Key
		c.attrs = append(c.attrs, a)
	}
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.group = h.group + name + "."
	c.next = h.next.WithGroup(name)
	return &c
}

// secretWords are the parts of an attribute's key that mark its value as a secret.
var secretWords = []string{"token", "key", "code", "secret", "password", "kek", "authorization"}

// value is an attribute's value as the ring keeps it: redacted if its key names a secret,
// escaped and cut to MaxValue bytes.
func value(key string, v slog.Value) string {
	lower := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return "[redacted]"
		}
	}
	v = v.Resolve()
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			s = err.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
	default:
		s = v.String()
	}
	return safetext.Line(s, MaxValue)
}
