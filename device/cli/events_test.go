package devicecli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
)

// crasherWasm builds an app for GOOS=wasip1 GOARCH=wasm that panics as soon as it starts.
func crasherWasm(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() { panic(\"boom\") }\n"), 0o600)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "crasher.wasm"), src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the crashing app: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "crasher.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type eventsStatus struct {
	Events struct {
		Queued     int     `json:"queued"`
		Dropped    int64   `json:"dropped"`
		LastUpload *string `json:"last_upload"`
	} `json:"events"`
}

func eventStatus(t *testing.T, dir string) eventsStatus {
	t.Helper()
	var v eventsStatus
	r := must(t, "status", "--state", dir, "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("status --output json: %v\n%s", err, r.stdout)
	}
	return v
}

// TestCrashingAppReportedThroughOutage runs the real binary with a deployed app that panics
// at every start: its AppCrash events reach the service while it is up, pile up on the device
// while it is down, and all arrive, each once, when it is back, though the first answer after
// the outage is lost and that batch is sent again. Every crash the app host
// logged is counted once, at the service or still in the queue.
func TestCrashingAppReportedThroughOutage(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	app := servicetest.App(t, "", "Crasher", "1.0.0", crasherWasm(t), svc.ImageKey)
	publish(svc, servicetest.GroupRepo, app)
	dir, _ := initDevice(t, svc)
	d := state.Dir(dir)
	stderr := &syncBuffer{}
	cmd := exec.Command(binary, "run", "--state", dir, "--checkin-interval", "1h", "--events-interval", "200ms")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	stored := func() map[string]api.DeviceEvent {
		svc.Lock()
		defer svc.Unlock()
		out := map[string]api.DeviceEvent{}
		for id, e := range svc.EventStore.Events {
			out[id] = e
		}
		return out
	}
	isCrash := func(e api.DeviceEvent) bool {
		return e.Category == api.EventAppCrash && e.Class == api.ClassApp && e.Type == api.TypeUnplanned &&
			string(e.ComponentID) == app.Custom.ComponentID && string(e.ImageID) == app.Custom.ImageID &&
			strings.Contains(e.Description, "panic: boom")
	}
	eventually(t, stderr, "an AppCrash event reaches the service", func() bool {
		for _, e := range stored() {
			if isCrash(e) {
				return true
			}
		}
		return false
	})

	svc.Lock()
	svc.Down = true
	svc.Unlock()
	q := events.Open(d)
	var waiting []api.DeviceEvent
	eventually(t, stderr, "crashes pile up on the device while the service is down", func() bool {
		es, _, err := q.Events()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if isCrash(e) {
				n += e.Count
			}
		}
		waiting = es
		return n >= 2
	})
	if v := eventStatus(t, dir); v.Events.Queued == 0 || v.Events.LastUpload == nil {
		t.Errorf("status while the service is down: %+v; want events queued and a last upload", v.Events)
	}

	svc.Lock()
	svc.Down = false
	svc.EventStore.LoseAcks = 1 // and the first answer after it is lost on its way back
	svc.Unlock()
	eventually(t, stderr, "the queued events arrive once the service is back", func() bool {
		got := stored()
		for _, e := range waiting {
			if s, ok := got[e.ID]; !ok || s.Count < e.Count {
				return false
			}
		}
		return eventStatus(t, dir).Events.Queued == 0 // the lost answer's batch was sent again
	})

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, stderr.String())
	}
	// Every crash once: what the service stored plus what is still queued, against the app
	// host's log (a crash logs "exited", then queues its event, then logs "restarting").
	total := 0
	for _, e := range stored() {
		if isCrash(e) {
			total += e.Count
		}
	}
	es, _, err := q.Events()
	if err != nil {
		t.Fatal(err)
	}
	got := stored()
	for _, e := range es {
		if _, dup := got[e.ID]; dup {
			continue // stored, its acknowledgement cut short by the stop
		}
		if isCrash(e) {
			total += e.Count
		}
	}
	log, err := os.ReadFile(d.Path(apphost.DirAppLogs, app.Custom.ComponentID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	exited, restarting := strings.Count(string(log), "host: exited with code"), strings.Count(string(log), "host: restarting in")
	t.Logf("%d crashes reported; %d exits, %d restarts logged; %d events were waiting", total, exited, restarting, len(waiting))
	if total < restarting || total > exited {
		t.Errorf("%d crashes reported; the app host logged %d exits and %d restarts", total, exited, restarting)
	}
	svc.Lock()
	resent := 0
	for _, n := range svc.EventStore.Received {
		if n > 1 {
			resent++
		}
	}
	svc.Unlock()
	if resent == 0 {
		t.Error("no event was sent again after the lost answer")
	}
	noProblems(t, svc)
}
