package agent

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
)

// TestAppEventsMapToErrorEvents: crashes and exits of apps become the error events the service
// groups (category, class, type, description), with their component and image; starts, stops
// and restarts are not errors.
func TestAppEventsMapToErrorEvents(t *testing.T) {
	t.Parallel()
	const comp, img = "5c8d3e4a-7b21-4f0e-9a6d-2e1f3c4b5a69", "6c8d3e4a-7b21-4f0e-9a6d-2e1f3c4b5a69"
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name                 string
		in                   apphost.Event
		category, class, typ string
		description          string
		notAnError           bool
	}{
		{"trap", apphost.Event{Kind: apphost.EventTrap, Message: "wasm error: unreachable"}, api.EventAppCrash, api.ClassApp, api.TypeUnplanned, "wasm error: unreachable", false},
		{"panic", apphost.Event{Kind: apphost.EventExit, ExitCode: 2, Message: "panic: boom"}, api.EventAppCrash, api.ClassApp, api.TypeUnplanned, "panic: boom (exit code 2)", false},
		{"exit 0", apphost.Event{Kind: apphost.EventExit}, api.EventAppExit, api.ClassApp, api.TypePlanned, "exit code 0", false},
		{"exit 3", apphost.Event{Kind: apphost.EventExit, ExitCode: 3}, api.EventAppExit, api.ClassApp, api.TypeUnplanned, "exit code 3", false},
		{"refused", apphost.Event{Kind: apphost.EventRefused, Message: "bad signature"}, api.EventAppExit, api.ClassApp, api.TypeUnplanned, "refused: bad signature", false},
		{"host panic", apphost.Event{Kind: apphost.EventHostPanic, Message: "host function gpio_set: oops"}, api.EventAppCrash, api.ClassOS, api.TypeUnplanned, "host function gpio_set: oops", false},
		{"start", apphost.Event{Kind: apphost.EventStart}, "", "", "", "", true},
		{"stop", apphost.Event{Kind: apphost.EventStop}, "", "", "", "", true},
		{"restart", apphost.Event{Kind: apphost.EventRestart, Backoff: time.Second}, "", "", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.ComponentID, tc.in.ImageID, tc.in.Time = comp, img, at
			e, ok := appEvent(tc.in)
			if ok == tc.notAnError {
				t.Fatalf("error event: %v, want %v", ok, !tc.notAnError)
			}
			if !ok {
				return
			}
			if e.Category != tc.category || e.Class != tc.class || e.Type != tc.typ || e.Description != tc.description ||
				e.ComponentID != comp || e.ImageID != img || !e.FirstAt.Equal(at) {
				t.Errorf("got %+v", e)
			}
		})
	}
}

// TestRuntimeCrashReportedAsUnplannedRestart: a stage 1 that died without shutting down (its
// running mark left behind) is reported at the next start, and the report reaches the service
// after the check-in; a refused attestation is queued with its reason even though the service
// knows it, so that failures while offline are known too.
func TestRuntimeCrashReportedAsUnplannedRestart(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	if err := os.WriteFile(d.dir.Path(state.FileRunning), []byte("2025-01-02T03:04:05Z"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.agent(t, Options{}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.dir.Path(state.FileRunning)); !os.IsNotExist(err) {
		t.Errorf("the running mark outlived a clean run: %v", err)
	}
	svc.Lock()
	var restarts []api.DeviceEvent
	for _, e := range svc.EventStore.Events {
		if e.Category == api.EventRuntimeRestart {
			restarts = append(restarts, e)
		}
	}
	svc.Unlock()
	if len(restarts) != 1 || restarts[0].Type != api.TypeUnplanned || restarts[0].Class != api.ClassOS {
		t.Errorf("RuntimeRestart events at the service: %+v; want one, unplanned", restarts)
	}

	svc.Lock()
	svc.FailReason, svc.FailMessage = api.ReasonUnknownRuntime, "no release has this measurement"
	svc.Unlock()
	if err := d.agent(t, Options{ForceAttest: true}).Run(context.Background()); err == nil {
		t.Fatal("a refused attestation: no error")
	}
	es, _, err := events.Open(d.dir).Events()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Category != api.EventAttestationFailed || !strings.HasPrefix(es[0].Description, api.ReasonUnknownRuntime+": ") {
		t.Errorf("queued: %+v; want one AttestationFailed with the reason", es)
	}
	svc.Lock()
	want := api.AttestationFailureEventID(svc.LastNonce)
	svc.Unlock()
	if len(es) == 1 && es[0].ID != want {
		t.Errorf("queued failure has ID %s, want %s (from its nonce, as the service records it): counted twice", es[0].ID, want)
	}
	noProblems(t, svc)
}

// TestTrapCarriesStackTrace: a trap's whole text (its WebAssembly stack trace) goes into the
// event's Detail, bounded; whether it leaves the device is the uploader's decision.
func TestTrapCarriesStackTrace(t *testing.T) {
	trace := "wasm error: unreachable\nwasm stack trace:\n\tmain.main()\n\truntime.main()"
	e, ok := appEvent(apphost.Event{Kind: apphost.EventTrap, Message: "wasm error: unreachable", Detail: trace})
	if !ok || e.Detail != trace || e.Description != "wasm error: unreachable" {
		t.Fatalf("event %+v", e)
	}
	e, _ = appEvent(apphost.Event{Kind: apphost.EventTrap, Message: "x", Detail: strings.Repeat("y", api.MaxEventDetail+10)})
	if len(e.Detail) > api.MaxEventDetail {
		t.Errorf("detail of %d bytes, want at most %d", len(e.Detail), api.MaxEventDetail)
	}
}
