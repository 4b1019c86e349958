package report_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"exit code", "Exit code 2", "exit code N"},
		{"signal", "killed by signal 11 (SIGSEGV)", "killed by signal N (sigsegv)"},
		{"decimal", "temperature 71.5 over limit", "temperature N over limit"},
		{"uuid", "image 5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b failed", "image <uuid> failed"},
		{"uppercase uuid", "image 5E1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B failed", "image <uuid> failed"},
		{"address", "trap: out of bounds memory access at 0x7FFE12A0", "trap: out of bounds memory access at <addr>"},
		{"digest", "measurement 9f86d081884c7d65 differs", "measurement <hex> differs"},
		{"hex word kept", "deadbeef facade", "deadbeef facade"},
		{"long decimal is a number", "exit code 12345678", "exit code N"},
		{"duration", "watchdog fired after 1.5s", "watchdog fired after <duration>"},
		{"compound duration", "no check-in for 1h30m", "no check-in for <duration>"},
		{"milliseconds", "took 200ms", "took <duration>"},
		{"number inside a word kept", "wasm32 trap in x86_64 host", "wasm32 trap in x86_64 host"},
		{"index", "wasm trap in func[12] at offset 4077", "wasm trap in func[N] at offset N"},
		{"white space", "  panic:\tindex   out of range  ", "panic: index out of range"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := report.Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSignatureGroupsExitCodes(t *testing.T) {
	t.Parallel()
	const comp = "5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	a := report.Signature(api.EventAppExit, comp, "exit code 2")
	if b := report.Signature(api.EventAppExit, comp, "Exit code 3"); a != b {
		t.Errorf("exit codes 2 and 3: signatures %s and %s, want one", a, b)
	}
	if len(a) != 16 {
		t.Errorf("signature %q: want 16 hex digits", a)
	}
	for name, other := range map[string]string{
		"another category":  report.Signature(api.EventAppCrash, comp, "exit code 2"),
		"another component": report.Signature(api.EventAppExit, ident.NewID(), "exit code 2"),
		"another fault":     report.Signature(api.EventAppExit, comp, "killed by signal 9"),
		"no component":      report.Signature(api.EventAppExit, "", "exit code 2"),
	} {
		if other == a {
			t.Errorf("%s: same signature %s", name, a)
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "", want: time.Time{}},
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2026-01-02", want: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{in: "2026-01-02T15:04:05Z", want: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{in: "-1h", bad: true},
		{in: "-3d", bad: true},
		{in: "yesterday", bad: true},
		{in: "99999999d", bad: true},
	}
	for _, tt := range tests {
		got, err := report.ParseSince(tt.in, now)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSince(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestLimiterRefills(t *testing.T) {
	t.Parallel()
	l := report.NewLimiter(3600, 10) // a token a second
	now := time.Unix(1_700_000_000, 0)
	dev, other := ident.DeviceIDFromPublicKey([]byte("a")), ident.DeviceIDFromPublicKey([]byte("b"))
	if ok, _ := l.Allow(dev, 10, now); !ok {
		t.Fatal("a full burst refused")
	}
	ok, wait := l.Allow(dev, 3, now)
	if ok || wait != 3*time.Second {
		t.Errorf("empty bucket: %v, wait %v; want refused, 3s", ok, wait)
	}
	if ok, _ := l.Allow(other, 10, now); !ok {
		t.Error("another device's burst refused")
	}
	if ok, _ := l.Allow(dev, 3, now.Add(3*time.Second)); !ok {
		t.Error("refused after refilling")
	}
}

// TestEventsRetention: events and attestation failures older than the retention are deleted,
// in batches; newer ones stay.
func TestEventsRetention(t *testing.T) {
	t.Parallel()
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, backend)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			tenant := ident.NewID()
			dev := ident.DeviceIDFromPublicKey([]byte("retention"))
			old, fresh := now.Add(-20*24*time.Hour), now.Add(-time.Hour)
			err := st.Update(ctx, func(tx *store.Tx) error {
				if err := tx.CreateTenant(api.Tenant{ID: ident.TenantID(tenant), Name: "acme", CreatedAt: now}); err != nil {
					return err
				}
				if _, err := tx.ClaimDevices(ident.TenantID(tenant), []ident.DeviceID{dev}, now); err != nil {
					return err
				}
				var b api.EventBatch
				for i := range 7 {
					at := old
					if i%2 == 0 {
						at = fresh
					}
					b.Events = append(b.Events, api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppExit, Class: api.ClassApp,
						Type: api.TypeUnplanned, Description: "exit code 1", Count: 1, FirstAt: at, LastAt: at})
				}
				if _, err := report.Add(tx, report.Upload(ident.TenantID(tenant), dev, b, now)); err != nil {
					return err
				}
				for _, at := range []time.Time{old, old, fresh} {
					if err := tx.RecordAttestation(store.Attestation{DeviceID: dev, TenantID: ident.TenantID(tenant), At: at,
						Result: api.AttestFail, Reason: api.ReasonUnknownRuntime, Message: "x"}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n, err := report.Purge(ctx, st, now.Add(-api.DefaultEventLifetime), 2)
			if err != nil {
				t.Fatal(err)
			}
			if n != 3+2 {
				t.Errorf("purged %d rows, want 5", n)
			}
			err = st.View(ctx, func(tx *store.Tx) error {
				es, err := tx.Events(ident.TenantID(tenant), store.EventFilter{})
				if err != nil {
					return err
				}
				if len(es) != 4 {
					t.Errorf("%d events left, want the 4 fresh ones", len(es))
				}
				for _, e := range es {
					if !e.LastAt.Equal(fresh) {
						t.Errorf("an old event was kept: %+v", e)
					}
				}
				fs, err := tx.AttestationFailures(ident.TenantID(tenant), time.Time{}, 0)
				if len(fs) != 1 || !fs[0].At.Equal(fresh) {
					t.Errorf("attestation failures left: %+v", fs)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzCheck: whatever a device sends, a checked event's description has no control or format
// character left, and its signature is 16 hex digits.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"exit code 2", "panic:\nline two", "\u202eevil", "\x00\x1b[31m", "\xff\xfe"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, desc string) {
		e := api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppCrash, Class: api.ClassApp, Type: api.TypeUnplanned,
			Description: desc, Count: 1, FirstAt: now, LastAt: now}
		if err := report.Check(&e, now); err != nil {
			if len(desc) <= api.MaxEventDescription {
				t.Fatalf("Check(%q): %v", desc, err)
			}
			return
		}
		if i := strings.IndexFunc(e.Description, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) }); i >= 0 {
			t.Errorf("Check(%q) left a control character: %q", desc, e.Description)
		}
		if s := report.Prepare(e).Signature; len(s) != 16 {
			t.Errorf("signature %q", s)
		}
	})
}
