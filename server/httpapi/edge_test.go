package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/store"
)

// series counts the metric series a registry holds.
func series(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

// TestMetricsRandomPathsAddNoSeries: requests to distinct paths (answered 401, 404 or 429)
// must not add metric series, and no label may carry the IDs in the paths.
func TestMetricsRandomPathsAddNoSeries(t *testing.T) {
	w := newWorld(t, "sqlite")
	long := strings.Repeat("x", 30_000)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			w.do(anonymous, "GET", fmt.Sprintf("%sgroup-%d-%s/timestamp.json", api.DevicePathTUF, i, long), nil)
			w.do(anonymous, "GET", fmt.Sprintf("/device/v1/random-%d", i), nil)
			w.do(anonymous, "POST", fmt.Sprintf("/api/v1/random-%d", i), nil)
			w.do(adminA, "GET", fmt.Sprintf("/api/v1/device-groups/%s-%d", w.a.group.ID, i), nil)
		}
	}
	send(0, 100) // every route and status these requests can have now has its series
	before := series(t, w.reg)
	send(100, 300)
	if after := series(t, w.reg); after != before {
		t.Errorf("800 requests to distinct paths grew the metrics from %d to %d series", before, after)
	}
	status, body := w.do(operator, "GET", "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics as the operator: %d", status)
	}
	for what, id := range map[string]string{"group": string(w.a.group.ID), "tenant": string(w.a.tenant.ID), "device": string(w.a.device),
		"image": string(w.a.image.ID), "random path": "random-1"} {
		if strings.Contains(body, id) {
			t.Errorf("/metrics shows a %s ID %s", what, id)
		}
	}
	if len(body) > 64<<10 {
		t.Errorf("/metrics is %d bytes", len(body))
	}
}

// TestMetricsNeedOperator: /metrics (which shows the whole fleet's activity) is the operator's
// only.
func TestMetricsNeedOperator(t *testing.T) {
	w := newWorld(t, "sqlite")
	for p, want := range map[string]int{anonymous: 401, forgedToken: 401, adminA: 403, readerA: 403, operator: 200} {
		if status, body := w.do(p, "GET", "/metrics", nil); status != want {
			t.Errorf("GET /metrics as %s: %d, want %d: %.200s", p, status, want, body)
		}
	}
}

// TestNonceFloodGets429: one source asking for nonces as fast as it can gets 429 with
// Retry-After once past its burst; another source is still served.
func TestNonceFloodGets429(t *testing.T) {
	w := newWorld(t, "sqlite")
	body := `{"device_id":"` + string(w.a.device) + `"}`
	send := func(from string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", api.DevicePathNonce, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = from
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		return rec
	}
	limited := 0
	for range httpapi.DefaultOpenBurst * 3 {
		rec := send("198.51.100.7:4000")
		switch rec.Code {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited++
			if rec.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("nonce: %d %s", rec.Code, rec.Body)
		}
	}
	if limited == 0 {
		t.Fatalf("%d nonce requests from one address in a burst: none refused", httpapi.DefaultOpenBurst*3)
	}
	// Another address of the same IPv6 /64 is the same source; another IPv4 address is not.
	if rec := send("198.51.100.8:4000"); rec.Code != http.StatusOK {
		t.Errorf("another source: %d, want 200", rec.Code)
	}
	for range httpapi.DefaultOpenBurst + 1 {
		send("[2001:db8::1]:4000")
	}
	if rec := send("[2001:db8::2]:4000"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("another address of a flooding /64: %d, want 429", rec.Code)
	}
}

// rowCounts counts the rows garbage could add, in every table an attestation writes.
func rowCounts(t *testing.T, st *store.Store) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"nonces", "attestation_failures", "attestation_failure_counts", "events", "audit", "tenant_cas"} {
		var n int
		err := st.View(t.Context(), func(tx *store.Tx) (err error) {
			n, err = tx.CountRows(table)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// TestGarbageEvidenceWritesNoRow: nonce requests and evidence from callers that are not a
// claimed device (garbage, unsigned, or of an unclaimed device) write no row; their failures
// are counted in memory and stored as one aggregate row per reason when flushed.
func TestGarbageEvidenceWritesNoRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		before := rowCounts(t, w.st)
		for i := range 20 {
			req := httptest.NewRequest("POST", api.DevicePathNonce,
				strings.NewReader(`{"device_id":"`+string(deviceID(1000+i))+`"}`))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			w.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("nonce: %d %s", rec.Code, rec.Body)
			}
			req = httptest.NewRequest("POST", api.DevicePathAttest, strings.NewReader(fmt.Sprintf("garbage %d", i)))
			req.Header.Set("Content-Type", api.EvidenceContentType)
			rec = httptest.NewRecorder()
			w.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("garbage evidence: %d %s", rec.Code, rec.Body)
			}
		}
		if after := rowCounts(t, w.st); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("20 nonce requests and 20 garbage evidence wrote rows:\nbefore %v\nafter  %v", before, after)
		}
		counts, err := w.api.FlushAttestationFailures(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 1 || counts[0].Reason != api.ReasonMalformed || counts[0].Count != 20 || counts[0].Sample.Message == "" {
			t.Errorf("flushed counts: %+v, want one of 20 malformed_evidence with a sample", counts)
		}
		if after := rowCounts(t, w.st); after["attestation_failure_counts"] != before["attestation_failure_counts"]+1 {
			t.Errorf("after the flush: %v, want one aggregate row more than %v", after, before)
		}
	})
}
