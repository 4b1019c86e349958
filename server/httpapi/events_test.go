package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// eventDevice is a device of tenant A with a current certificate, posting events over mutual TLS.
type eventDevice struct {
	id  ident.DeviceID
	c   *http.Client
	url string
}

// eventWorld serves a world over TLS and returns tenant A's device, ready to post events.
func eventWorld(t *testing.T, backend string) (*world, *httptest.Server, eventDevice) {
	w, srv := tlsWorldOn(t, backend)
	return w, srv, eventDevice{id: w.a.device, c: ownClient(srv, issue(t, w, w.a.device)), url: srv.URL}
}

// neighbour claims another device into tenant A's group and returns it, ready to post events.
func neighbour(t *testing.T, w *world, srv *httptest.Server, n int) eventDevice {
	t.Helper()
	id := deviceID(n)
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{id}, time.Now()); err != nil {
			return err
		}
		return tx.SetDeviceGroup(w.a.tenant.ID, id, w.a.group.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return eventDevice{id: id, c: ownClient(srv, issue(t, w, id)), url: srv.URL}
}

// post sends body (JSON-encoded unless it is a string) and returns the status, body and headers.
func (d eventDevice) post(t *testing.T, body any) (int, string, http.Header) {
	t.Helper()
	var r io.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	resp, err := d.c.Post(d.url+api.DevicePathEvents, "application/json", r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// accept posts a batch that must be accepted.
func (d eventDevice) accept(t *testing.T, b api.EventBatch) api.EventBatchResponse {
	t.Helper()
	status, body, _ := d.post(t, b)
	if status != http.StatusOK {
		t.Fatalf("post events: %d %s", status, body)
	}
	return decodeAs[api.EventBatchResponse](t, body)
}

func newEvent(desc string) api.DeviceEvent {
	now := time.Now().UTC()
	return api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppExit, Class: api.ClassApp, Type: api.TypeUnplanned,
		Description: desc, ComponentID: "5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", Count: 1,
		FirstAt: now.Add(-time.Minute), LastAt: now}
}

func batch(es ...api.DeviceEvent) api.EventBatch { return api.EventBatch{Events: es} }

// errorsReport lists the events principal sees with query.
func errorsReport(t *testing.T, w *world, principal, query string) []api.ErrorEvent {
	t.Helper()
	status, body := w.do(principal, "GET", "/api/v1/reports/errors"+query, nil)
	if status != http.StatusOK {
		t.Fatalf("errors report%s: %d %s", query, status, body)
	}
	return decodeAs[api.ErrorEventList](t, body).Events
}

func TestEventBatchOversizedRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		big := newEvent(strings.Repeat("x", api.MaxEventBatchSize))
		if status, body, _ := d.post(t, batch(big)); status != http.StatusRequestEntityTooLarge {
			t.Errorf("a body over %d bytes: %d %s, want 413", api.MaxEventBatchSize, status, body)
		}
		var many api.EventBatch
		for range api.MaxEventsPerBatch + 1 {
			many.Events = append(many.Events, newEvent("exit code 1"))
		}
		if status, body, _ := d.post(t, many); status != http.StatusBadRequest || !strings.Contains(body, "the limit is") {
			t.Errorf("%d events: %d %s, want 400", len(many.Events), status, body)
		}
		if es := errorsReport(t, w, readerA, ""); len(es) != 0 {
			t.Errorf("refused batches stored %d events", len(es))
		}
	})
}

// TestMalformedEventRefused: one bad event refuses its whole batch, naming the event's index and
// field, so that the device can drop it and send the rest again.
func TestMalformedEventRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		tests := []struct {
			name  string
			field string
			edit  func(e *api.DeviceEvent)
		}{
			{"uppercase ID", "id", func(e *api.DeviceEvent) { e.ID = strings.ToUpper(e.ID) }},
			{"ID not a UUID", "id", func(e *api.DeviceEvent) { e.ID = "1" }},
			{"no ID", "id", func(e *api.DeviceEvent) { e.ID = "" }},
			{"unknown category", "category", func(e *api.DeviceEvent) { e.Category = "Meltdown" }},
			{"category only the service records", "category", func(e *api.DeviceEvent) { e.Category = api.EventsDropped }},
			{"unknown class", "class", func(e *api.DeviceEvent) { e.Class = "kernel" }},
			{"unknown type", "type", func(e *api.DeviceEvent) { e.Type = "maybe" }},
			{"description too long", "description", func(e *api.DeviceEvent) { e.Description = strings.Repeat("x", api.MaxEventDescription+1) }},
			{"detail too long", "detail", func(e *api.DeviceEvent) { e.Detail = strings.Repeat("x", api.MaxEventDetail+1) }},
			{"component not a UUID", "component_id", func(e *api.DeviceEvent) { e.ComponentID = "blinky" }},
			{"image not a UUID", "image_id", func(e *api.DeviceEvent) { e.ImageID = "../../etc" }},
			{"count 0", "count", func(e *api.DeviceEvent) { e.Count = 0 }},
			{"negative count", "count", func(e *api.DeviceEvent) { e.Count = -5 }},
			{"count too large", "count", func(e *api.DeviceEvent) { e.Count = api.MaxEventCount + 1 }},
			{"no times", "first_at", func(e *api.DeviceEvent) { e.FirstAt, e.LastAt = time.Time{}, time.Time{} }},
			{"first after last", "first_at", func(e *api.DeviceEvent) { e.FirstAt = e.LastAt.Add(time.Second) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bad := newEvent("exit code 1")
				tt.edit(&bad)
				status, body, _ := d.post(t, batch(newEvent("exit code 0"), bad, newEvent("exit code 2")))
				if status != http.StatusBadRequest || !strings.Contains(body, "events[1]: "+tt.field) {
					t.Errorf("%d %s, want 400 naming events[1]: %s", status, body, tt.field)
				}
			})
		}
		for name, body := range map[string]string{
			"unknown field":   `{"events": [], "extra": 1}`,
			"duplicate key":   `{"events": [], "events": []}`,
			"trailing data":   `{"events": []} {}`,
			"not JSON":        `events`,
			"negative drops":  `{"events": [], "dropped": -1}`,
			"count as string": `{"events": [{"id": "` + ident.NewID() + `", "count": "1"}]}`,
		} {
			if status, resp, _ := d.post(t, body); status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", name, status, resp)
			}
		}
		if es := errorsReport(t, w, readerA, ""); len(es) != 0 {
			t.Errorf("refused batches stored %d events: %+v", len(es), es)
		}
		// Control characters in a description are escaped, not refused.
		e := newEvent("panic: boom\n\x1b[31mred\u202e")
		d.accept(t, batch(e))
		if es := errorsReport(t, w, readerA, ""); len(es) != 1 || es[0].Description != `panic: boom \x1b[31mred\u202e` {
			t.Errorf("stored %+v", es)
		}
	})
}

func TestEventTimestampInFutureRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		_, _, d := eventWorld(t, backend)
		e := newEvent("exit code 1")
		e.LastAt = time.Now().Add(api.MaxEventClockSkew + time.Minute)
		if status, body, _ := d.post(t, batch(e)); status != http.StatusBadRequest || !strings.Contains(body, "events[0]: last_at") {
			t.Errorf("an event %s ahead: %d %s, want 400", api.MaxEventClockSkew+time.Minute, status, body)
		}
		e.LastAt = time.Now().Add(api.MaxEventClockSkew / 2)
		d.accept(t, batch(e)) // a clock a little ahead is tolerated
	})
}

func TestEventTimestampFarPastRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		_, _, d := eventWorld(t, backend)
		e := newEvent("exit code 1")
		e.FirstAt = time.Now().Add(-api.MaxEventAge - time.Hour)
		if status, body, _ := d.post(t, batch(e)); status != http.StatusBadRequest || !strings.Contains(body, "events[0]: first_at") {
			t.Errorf("an event older than %s: %d %s, want 400", api.MaxEventAge, status, body)
		}
		e.FirstAt = time.Now().Add(-api.MaxEventAge + time.Hour)
		d.accept(t, batch(e))
	})
}

// TestEventClaimingAnotherDeviceIgnoresBody: the device is the certificate's; a body naming
// another device is refused, and no body can put events on another device.
func TestEventClaimingAnotherDeviceIgnoresBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		e := newEvent("exit code 1")
		j, _ := json.Marshal(e)
		forged := `{"events": [` + strings.Replace(string(j), "{", `{"device_id": "`+string(w.b.device)+`", `, 1) + `]}`
		if status, body, _ := d.post(t, forged); status != http.StatusBadRequest || !strings.Contains(body, "device_id") {
			t.Errorf("an event naming another device: %d %s, want 400", status, body)
		}
		if status, body, _ := d.post(t, `{"device_id": "`+string(w.b.device)+`", "events": []}`); status != http.StatusBadRequest {
			t.Errorf("a batch naming another device: %d %s, want 400", status, body)
		}
		d.accept(t, batch(e))
		es := errorsReport(t, w, readerA, "")
		if len(es) != 1 || es[0].DeviceID != string(w.a.device) || es[0].DeviceGroup != "Toaster/Production" {
			t.Errorf("tenant A's report: %+v, want one event of its device", es)
		}
		if es := errorsReport(t, w, adminB, ""); len(es) != 0 {
			t.Errorf("tenant B's report: %+v, want nothing", es)
		}
	})
}

// TestEventFloodFromOneDeviceLimited: a device sending more than its burst is told to wait,
// and its neighbour is not.
func TestEventFloodFromOneDeviceLimited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv, d := eventWorld(t, backend)
		full := func() api.EventBatch {
			var b api.EventBatch
			for range api.MaxEventsPerBatch {
				b.Events = append(b.Events, newEvent("exit code 1"))
			}
			return b
		}
		d.accept(t, full())
		d.accept(t, full())
		status, body, h := d.post(t, full())
		if status != http.StatusTooManyRequests {
			t.Fatalf("a third full batch: %d %s, want 429", status, body)
		}
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q, want a number of seconds", h.Get("Retry-After"))
		}
		if res := neighbour(t, w, srv, 7).accept(t, full()); res.Accepted != api.MaxEventsPerBatch {
			t.Errorf("the neighbour: %+v", res)
		}
		if es := errorsReport(t, w, readerA, "?limit=1000"); len(es) != 3*api.MaxEventsPerBatch {
			t.Errorf("%d events stored, want %d", len(es), 3*api.MaxEventsPerBatch)
		}
	})
}

func TestDuplicateEventsStoredOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		b := batch(newEvent("exit code 1"), newEvent("exit code 2"))
		if res := d.accept(t, b); res.Accepted != 2 || res.Duplicates != 0 {
			t.Errorf("first: %+v", res)
		}
		b.Events = append(b.Events, newEvent("exit code 3"), b.Events[0])
		if res := d.accept(t, b); res.Accepted != 1 || res.Duplicates != 3 {
			t.Errorf("sent again with one new event: %+v, want 1 accepted and 3 duplicates", res)
		}
		if es := errorsReport(t, w, readerA, ""); len(es) != 3 {
			t.Errorf("%d events stored, want 3", len(es))
		}
	})
}

func TestCrashDetailOnlyWhenGroupAllows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		e := newEvent("trap: unreachable")
		e.Category, e.Detail = api.EventAppCrash, "wasm backtrace:\n  0: blinky!main"
		if res := d.accept(t, batch(e)); res.AllowCrashDumps {
			t.Errorf("a group without crash dumps: %+v", res)
		}
		if status, body := w.do(adminA, "PATCH", "/api/v1/device-groups/"+string(w.a.group.ID), map[string]any{"allow_crash_dumps": true}); status != http.StatusOK {
			t.Fatalf("allow crash dumps: %d %s", status, body)
		}
		e2 := e
		e2.ID = ident.NewID()
		if res := d.accept(t, batch(e2)); !res.AllowCrashDumps {
			t.Errorf("a group with crash dumps: %+v", res)
		}
		// Newest first: the second event, then the first.
		es := errorsReport(t, w, readerA, "")
		if len(es) != 2 || es[0].Detail != e.Detail || es[1].Detail != "" {
			t.Errorf("stored %+v, want the detail of the second event only", es)
		}
	})
}

// TestFailedAttestationInReport: an attestation the service refused is in the tenant's report,
// as Azure Sphere shows it.
func TestFailedAttestationInReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv := tlsWorldOn(t, backend)
		d := claimedRotDevice(t, w, rot.ModeDebug)
		if status, ar := attestOver(t, ownClient(srv, nil), srv.URL, d); status != http.StatusForbidden {
			t.Fatalf("attest in Debug mode: %d %+v, want 403", status, ar)
		}
		es := errorsReport(t, w, readerA, "?since=1h&device="+string(d.id))
		if len(es) != 1 {
			t.Fatalf("report: %+v, want the failed attestation", es)
		}
		e := es[0]
		if e.Category != api.EventAttestationFailed || e.Class != api.ClassOS || e.Type != api.TypeUnplanned ||
			e.Count != 1 || !strings.HasPrefix(e.Description, api.ReasonDebugNotAllowed+": ") {
			t.Errorf("event %+v", e)
		}
		status, body := w.do(readerA, "GET", "/api/v1/reports/summary", nil)
		if status != http.StatusOK || !strings.Contains(body, `"event_category":"AttestationFailed"`) {
			t.Errorf("summary: %d %s", status, body)
		}
	})
}

func TestReportCrossTenant404(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		d.accept(t, batch(newEvent("exit code 1")))
		for _, path := range []string{
			"/api/v1/reports/errors?device=" + string(w.a.device),
			"/api/v1/reports/errors?device_group=" + string(w.a.group.ID),
			"/api/v1/reports/summary?device_group=" + string(w.a.group.ID),
			"/api/v1/reports/errors?device=not-a-device",
		} {
			status, body := w.do(adminB, "GET", path, nil)
			if status != http.StatusNotFound {
				t.Errorf("tenant B: %s: %d %s, want 404", path, status, body)
			}
			assertNoLeak(t, w, path, path, body)
		}
		if es := errorsReport(t, w, adminB, ""); len(es) != 0 {
			t.Errorf("tenant B sees %+v", es)
		}
		status, body := w.do(adminB, "GET", "/api/v1/reports/summary", nil)
		if status != http.StatusOK || !strings.Contains(body, `"summary":[]`) {
			t.Errorf("tenant B's summary: %d %s, want empty", status, body)
		}
	})
}

// TestReportSummaryGroupsExitCodes: two exit codes of one component are one line, its events the
// sum of the counts and its devices the distinct devices.
func TestReportSummaryGroupsExitCodes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, srv, d := eventWorld(t, backend)
		e2, e3 := newEvent("exit code 2"), newEvent("exit code 3")
		e2.Count, e3.Count = 4, 2
		d.accept(t, batch(e2, e3))
		other := newEvent("killed by signal 9")
		neighbour(t, w, srv, 7).accept(t, batch(newEvent("Exit code 255"), other))
		status, body := w.do(readerA, "GET", "/api/v1/reports/summary?since=24h&device_group="+string(w.a.group.ID), nil)
		if status != http.StatusOK {
			t.Fatalf("summary: %d %s", status, body)
		}
		sum := decodeAs[api.ErrorSummaryList](t, body).Summary
		if len(sum) != 2 {
			t.Fatalf("summary %+v, want 2 lines", sum)
		}
		if s := sum[0]; s.Description != "exit code N" || s.Events != 7 || s.Devices != 2 || s.Category != api.EventAppExit {
			t.Errorf("first line %+v, want exit code N: 7 events on 2 devices", s)
		}
		if s := sum[1]; s.Description != "killed by signal N" || s.Events != 1 || s.Devices != 1 {
			t.Errorf("second line %+v", s)
		}
		if status, body := w.do(readerA, "GET", "/api/v1/reports/summary?since=soon", nil); status != http.StatusBadRequest {
			t.Errorf("a bad since: %d %s, want 400", status, body)
		}
	})
}

func TestReportErrorsPaged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w, _, d := eventWorld(t, backend)
		var b api.EventBatch
		for i := range 5 {
			e := newEvent("exit code 1")
			e.LastAt = e.LastAt.Add(-time.Duration(i) * time.Second)
			e.FirstAt = e.LastAt
			b.Events = append(b.Events, e)
		}
		d.accept(t, b)
		var all []api.ErrorEvent
		token := ""
		for range 5 {
			status, body := w.do(readerA, "GET", "/api/v1/reports/errors?limit=2&page_token="+token, nil)
			if status != http.StatusOK {
				t.Fatalf("page: %d %s", status, body)
			}
			l := decodeAs[api.ErrorEventList](t, body)
			all = append(all, l.Events...)
			if token = l.NextPageToken; token == "" {
				break
			}
		}
		if len(all) != 5 {
			t.Fatalf("%d events over the pages, want 5", len(all))
		}
		for i := range all {
			if want := b.Events[i].LastAt.Truncate(time.Microsecond); !all[i].LastAt.Equal(want) {
				t.Errorf("event %d ended %v, want %v (newest first)", i, all[i].LastAt, want)
			}
		}
		if status, _ := w.do(readerA, "GET", "/api/v1/reports/errors?page_token=x", nil); status != http.StatusBadRequest {
			t.Errorf("a bad page token: %d, want 400", status)
		}
	})
}

func TestReportFleetCountsOwnTenantOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(readerA, "GET", "/api/v1/reports/fleet", nil)
		var sum api.FleetSummary
		if status != http.StatusOK || json.Unmarshal([]byte(body), &sum) != nil {
			t.Fatalf("fleet: %d %s", status, body)
		}
		if len(sum.Counts) != 1 || sum.Counts[0].GroupID != w.a.group.ID || sum.Counts[0].Devices != 1 ||
			sum.Counts[0].AttestResult != "" || sum.Counts[0].RuntimeVersions == nil {
			t.Errorf("fleet of tenant A: %+v, want its one never-attested device in %s", sum.Counts, w.a.group.ID)
		}
	})
}

func TestDeviceListFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		for _, tc := range []struct {
			query  string
			status int
			found  bool
		}{
			{"attestation=never", http.StatusOK, true},
			{"attestation=pass", http.StatusOK, false},
			{"not_seen_since=1h", http.StatusOK, true},
			{"seen_since=1h", http.StatusOK, false},
			{"runtime=" + strings.Repeat("ab", 64), http.StatusOK, false},
			{"attestation=maybe", http.StatusBadRequest, false},
			{"runtime=abc", http.StatusBadRequest, false},
			{"seen_since=soon", http.StatusBadRequest, false},
		} {
			status, body := w.do(readerA, "GET", "/api/v1/devices?"+tc.query, nil)
			if status != tc.status || strings.Contains(body, string(w.a.device)) != tc.found {
				t.Errorf("?%s: %d %s, want %d and the device listed %v", tc.query, status, body, tc.status, tc.found)
			}
		}
	})
}
