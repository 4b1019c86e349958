package apphost_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
)

// exampleManifest reads a sample app's manifest as the image would carry it.
func exampleManifest(t *testing.T, name string) *manifest.App {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name, "app_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatalf("examples/%s/app_manifest.json: %v", name, err)
	}
	return m
}

func TestBlinkTogglesItsPin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := exampleManifest(t, "blink")
	img := e.install(m, wasm["blink"])
	e.sync()
	seen := map[int]bool{}
	waitFor(t, "pin 9 to be seen both on and off", func() bool {
		s := e.status(m.ComponentId)
		if len(s.Pins) != 1 || s.Pins[0].Pin != 9 {
			t.Fatalf("pins %v, want pin 9 alone", s.Pins)
		}
		seen[s.Pins[0].Value] = true
		return seen[0] && seen[1] && strings.Contains(e.log(m.ComponentId), "blink: pin 9 off")
	})
	s := e.status(m.ComponentId)
	if s.Name != "blink" || s.ImageID != img || s.State != apphost.StateRunning || s.Restarts != 0 {
		t.Errorf("status %+v", s)
	}
}

func TestStopStartSyncAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("ticker", manifest.Capabilities{})
	e.install(m, wasm["probe"])
	e.sync()
	waitFor(t, "ticks", func() bool { return e.ticks(m.ComponentId) > 0 })

	if err := e.h.Stop("ticker"); err != nil {
		t.Fatal(err)
	}
	if s := e.status(m.ComponentId); s.State != apphost.StateStopped {
		t.Fatalf("after Stop: %s", s.State)
	}
	e.sync() // a stopped app stays stopped
	if s := e.status(m.ComponentId); s.State != apphost.StateStopped {
		t.Fatalf("after Stop and Sync: %s", s.State)
	}
	if err := e.h.Start(m.ComponentId); err != nil {
		t.Fatal(err)
	}
	if s := e.status(m.ComponentId); s.State != apphost.StateRunning {
		t.Fatalf("after Start: %s", s.State)
	}
	if err := e.h.Start("nonexistent"); err == nil {
		t.Error("Start of an app that is not installed succeeded")
	}

	// An update replaces the running version.
	v2 := e.install(m, wasm["probe"])
	e.sync()
	if s := e.status(m.ComponentId); s.ImageID != v2 || s.State != apphost.StateRunning {
		t.Fatalf("after update: %+v", s)
	}
	if n := len(e.rec.of(m.ComponentId, apphost.EventStop)); n != 2 {
		t.Errorf("%d stop events, want 2 (Stop, then the update)", n)
	}
	// Uninstalling removes it.
	if err := os.Remove(filepath.Join(e.dir, state.DirApps, m.ComponentId, state.FileCurrent)); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if l := e.h.List(); len(l) != 0 {
		t.Fatalf("after uninstall: %+v", l)
	}
}

func TestPanicLineReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{After: func(time.Duration) <-chan time.Time { return nil }})
	m := app("panicker", manifest.Capabilities{})
	e.install(m, wasm["probe"])
	e.sync()
	ev := e.rec.wait(t, m.ComponentId, apphost.EventExit)
	if ev.ExitCode != 2 || ev.Message != "panic: probe panics on purpose" {
		t.Errorf("exit event %+v", ev)
	}
	s := e.status(m.ComponentId)
	if s.State != apphost.StateBackoff || s.LastExit == nil || s.LastExit.Panic != ev.Message {
		t.Errorf("status %+v", s)
	}
}

func TestUpdateDeferral(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	e := newEnv(t, apphost.Options{Now: func() time.Time { return now }})
	deadline := t0.Add(time.Hour)
	e.h.NotifyUpdatePending(apphost.UpdateApplication, deadline)
	now = t0.Add(100 * time.Hour) // the app asks late: its deferral is cut at 167 h from t0

	storage := &manifest.MutableStorage{SizeKB: 4}
	granted := app("deferrer", manifest.Capabilities{MutableStorage: storage, SystemEventNotifications: true, SoftwareUpdateDeferral: true})
	denied := app("nosy", manifest.Capabilities{MutableStorage: storage})
	for _, m := range []*manifest.App{granted, denied} {
		e.install(m, wasm["probe"])
		e.script(m, "events", "defer runtime 60", "defer application 6000")
	}
	e.sync()
	e.expect(granted, map[string]string{
		"events":                 "ok update_pending application",
		"defer runtime 60":       "err -6", // nothing pending
		"defer application 6000": "ok",
	})
	e.expect(denied, map[string]string{
		"events":                 "err -1 none",
		"defer application 6000": "err -1",
	})
	if got, want := e.h.Deferred(apphost.UpdateApplication), t0.Add(apphost.MaxDeferApplication); !got.Equal(want) {
		t.Errorf("Deferred = %v, want %v", got, want)
	}
	if got := e.h.Deferred(apphost.UpdateRuntime); !got.IsZero() {
		t.Errorf("Deferred(runtime) = %v, want zero", got)
	}
	e.h.NotifyUpdatePending(apphost.UpdateApplication, time.Time{})
	if got := e.h.Deferred(apphost.UpdateApplication); !got.IsZero() {
		t.Errorf("after the update: Deferred = %v, want zero", got)
	}
}

// TestResumeEndsOnlyTheAppsOwnDeferral: an app's SysEvent_ResumeEvent ends its own deferral;
// another app's deferral still holds the update, and the update client is not told to go
// ahead. A deferral that nobody renews ends at its time: Deferred then returns a time not
// after now, and the update may go ahead. The clock is the host's.
func TestResumeEndsOnlyTheAppsOwnDeferral(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, apphost.Options{Now: clock})
	e.h.NotifyUpdatePending(apphost.UpdateApplication, t0.Add(time.Minute))

	caps := manifest.Capabilities{MutableStorage: &manifest.MutableStorage{SizeKB: 4}, SystemEventNotifications: true, SoftwareUpdateDeferral: true}
	holder, resumer := app("holder", caps), app("resumer", caps)
	denied := app("nosy", manifest.Capabilities{MutableStorage: caps.MutableStorage, SystemEventNotifications: true})
	e.install(holder, wasm["probe"])
	e.script(holder, "defer application 30")
	e.sync()
	e.expect(holder, map[string]string{"defer application 30": "ok"})

	for _, m := range []*manifest.App{resumer, denied} {
		e.install(m, wasm["probe"])
		e.script(m, "events", "defer application 60", "resume application", "resume runtime")
	}
	e.sync()
	e.expect(resumer, map[string]string{
		"events":               "ok update_pending application",
		"defer application 60": "ok",
		"resume application":   "ok",
		"resume runtime":       "err -6", // it deferred no runtime update
	})
	e.expect(denied, map[string]string{
		"events":               "ok update_pending application",
		"defer application 60": "err -1",
		"resume application":   "err -1",
	})
	if got, want := e.h.Deferred(apphost.UpdateApplication), t0.Add(30*time.Minute); !got.Equal(want) {
		t.Errorf("after one app resumed, Deferred = %v, want the other's %v", got, want)
	}
	select {
	case <-e.h.Resumed():
		t.Error("Resumed was signalled while another app's deferral held the update")
	default:
	}

	mu.Lock()
	now = t0.Add(30*time.Minute + time.Second) // the holder never renews its deferral
	mu.Unlock()
	if got := e.h.Deferred(apphost.UpdateApplication); got.After(clock()) {
		t.Errorf("the deferral expired at %v, yet Deferred = %v", t0.Add(30*time.Minute), got)
	}
}

func TestCompilationCacheIsUsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("ticker", manifest.Capabilities{})
	e.install(m, wasm["probe"])
	e.sync()
	entries, err := os.ReadDir(filepath.Join(e.dir, apphost.DirCache))
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache/wazero is empty (%v): compiled modules are not cached", err)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("looper", manifest.Capabilities{})
	e.install(m, wasm["probe"])
	e.sync()
	waitFor(t, "the loop", func() bool { return strings.Contains(e.log(m.ComponentId), "looping") })
	if err := e.h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Sync(context.Background()); err != apphost.ErrClosed {
		t.Errorf("Sync after Close: %v", err)
	}
}
