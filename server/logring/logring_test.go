package logring

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newLogger(t *testing.T) (*Ring, *slog.Logger, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	r := New()
	return r, slog.New(r.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))), &out
}

// TestRingKeepsEachTenantsRecordsApart: a tenant's records are its own; records without a
// tenant are kept for none; debug records are kept though the service logs at info.
func TestRingKeepsEachTenantsRecordsApart(t *testing.T) {
	r, log, out := newLogger(t)
	start := time.Now().Add(-time.Second)
	log.Info("attestation failed", "device", "d1", "tenant", "A")
	log.Debug("request", "route", "GET /api/v1/devices", "tenant", "B")
	log.With("tenant", "A").Warn("from WithAttrs")
	log.Info("serving", "url", "https://x")
	a, b := r.Recent("A", start), r.Recent("B", start)
	if len(a) != 2 || a[0].Message != "attestation failed" || a[0].Attrs["device"] != "d1" || a[1].Message != "from WithAttrs" {
		t.Errorf("tenant A: %+v", a)
	}
	if len(b) != 1 || b[0].Level != "DEBUG" {
		t.Errorf("tenant B: %+v", b)
	}
	if strings.Contains(out.String(), "request") {
		t.Errorf("a debug record reached the info handler: %s", out)
	}
	if !strings.Contains(out.String(), "serving") || !strings.Contains(out.String(), "attestation failed") {
		t.Errorf("records not passed on: %s", out)
	}
	if got := r.Recent("A", time.Now().Add(time.Hour)); len(got) != 0 {
		t.Errorf("records from the future: %+v", got)
	}
}

// TestRingIsBounded: a tenant logging without end holds PerTenant records, the newest; many
// tenants hold MaxTenants rings.
func TestRingIsBounded(t *testing.T) {
	r, log, _ := newLogger(t)
	for i := range PerTenant + 10 {
		log.Debug("request", "n", i, "tenant", "A")
	}
	got := r.Recent("A", time.Time{})
	if len(got) != PerTenant || got[0].Attrs["n"] != "10" || got[len(got)-1].Attrs["n"] != fmt.Sprint(PerTenant+9) {
		t.Fatalf("%d records, first %v, last %v", len(got), got[0].Attrs, got[len(got)-1].Attrs)
	}
	for i := range MaxTenants + 5 {
		log.Debug("request", "tenant", fmt.Sprint("t", i))
	}
	if n := len(r.tenants); n != MaxTenants {
		t.Errorf("%d tenant rings, want %d", n, MaxTenants)
	}
	if len(r.Recent("A", time.Time{})) != 0 {
		t.Error("the least recently written tenant was kept")
	}
	log.Debug("long", "v", strings.Repeat("x", 10*MaxValue), "tenant", "L")
	if v := r.Recent("L", time.Time{})[0].Attrs["v"]; len(v) > MaxValue+len("…") {
		t.Errorf("a value of %d bytes", len(v))
	}
}

// TestRingRedactsSecretsLoggedByMistake: an attribute named as a secret never reaches a
// tenant's support data, and control characters are escaped.
func TestRingRedactsSecretsLoggedByMistake(t *testing.T) {
	r, log, _ := newLogger(t)
	log.Info("oops", "token", "rmp_secret1", "claim_code", "7G2QK-X4M9T", "signing_key", "PRIVATE", "tenant", "A",
		"note", "\x1b[2Jcleared")
	rec := r.Recent("A", time.Time{})[0]
	for k, v := range rec.Attrs {
		if strings.Contains(v, "rmp_secret1") || strings.Contains(v, "7G2QK") || strings.Contains(v, "PRIVATE") {
			t.Errorf("%s kept as %q", k, v)
		}
	}
	if rec.Attrs["note"] != `\x1b[2Jcleared` {
		t.Errorf("note %q", rec.Attrs["note"])
	}
}
