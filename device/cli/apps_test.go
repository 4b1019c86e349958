package devicecli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/control"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDevice runs `rampart-device run` on dir until the test ends.
func startDevice(t *testing.T, dir string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	cmd := exec.Command(binary, "run", "--state", dir, "--checkin-interval", "1s")
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
	return cmd, stderr
}

// eventually polls cond until it holds, for at most a minute.
func eventually(t *testing.T, stderr *syncBuffer, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute; stderr of run:\n%s", what, stderr.String())
		}
	}
}

func appList(t *testing.T, dir string) []apphost.AppStatus {
	t.Helper()
	r := must(t, "app", "list", "--state", dir, "--output", "json")
	var apps []apphost.AppStatus
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&apps); err != nil {
		t.Fatalf("app list --output json: %v\n%s", err, r.stdout)
	}
	return apps
}

func bootMode(t *testing.T, dir string) string {
	if v := status(t, dir); v.Boot != nil {
		return v.Boot.Mode
	}
	return ""
}

// blinkPackage packs examples/blink, signed by the developer key as `rampart image pack` does.
func blinkPackage(t *testing.T, signer *servicetest.Service, dev bool) (string, servicetest.Target) {
	t.Helper()
	b, err := os.ReadFile("../../examples/blink/app_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	key := signer.ImageKey
	if dev {
		key = developerKey
	}
	app := servicetest.AppWithManifest(t, *m, "1.0.0", blinkWasm, key)
	path := filepath.Join(t.TempDir(), "blink.rmpkg")
	if err := os.WriteFile(path, app.Package, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, app
}

// TestDeveloperSignedAppRunsWithCapability walks the development flow through the real binary,
// against the stand-in service, with the real blink app: sideloading is refused until the
// service grants the capability; then the device restarts into Debug mode, takes the
// developer-signed package, runs it, and `app list|stop|start|logs` control it over the
// socket; when the service withdraws the capability, the device restarts into Normal mode and
// refuses to run the developer-signed app.
func TestDeveloperSignedAppRunsWithCapability(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.Updates.UpdatePolicy = api.PolicyRuntimeOnly // the Development group's
	svc.Unlock()
	dir, id := initDevice(t, svc)
	pkg, app := blinkPackage(t, svc, true)
	cmd, stderr := startDevice(t, dir)
	d := state.Dir(dir)

	eventually(t, stderr, "the device checks in and serves its socket", func() bool {
		_, err := os.Stat(d.Path(state.FileTenantKeys))
		return err == nil && run(t, "app", "list", "--state", dir).code == 0
	})
	if fi, err := os.Lstat(d.Path(control.Socket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control.sock: %v, %v; want mode 0600", fi.Mode(), err)
	}
	r := run(t, "sideload", pkg, "--state", dir)
	if r.code != 1 {
		t.Fatalf("sideload without the capability: exit %d", r.code)
	}
	oneErrorLine(t, r, "development capability")
	if apps := appList(t, dir); len(apps) != 0 {
		t.Errorf("apps after a refused sideload: %+v", apps)
	}

	svc.Lock()
	svc.Capability = svc.DevelopmentCapability(t, ident.DeviceID(id), &developerKey.PublicKey)
	svc.Unlock()
	eventually(t, stderr, "the device restarts in Debug mode", func() bool {
		return bootMode(t, dir) == "debug" && run(t, "app", "list", "--state", dir).code == 0
	})

	r = must(t, "sideload", pkg, "--state", dir)
	if strings.TrimSpace(r.stdout) != app.Custom.ImageID {
		t.Errorf("sideload printed %q, want the image ID", r.stdout)
	}
	apps := appList(t, dir)
	if len(apps) != 1 || apps[0].Name != "blink" || apps[0].ComponentID != app.Custom.ComponentID ||
		apps[0].ImageID != app.Custom.ImageID || apps[0].State != apphost.StateRunning ||
		len(apps[0].Pins) != 1 || apps[0].Pins[0].Pin != 9 {
		t.Fatalf("app list: %+v", apps)
	}
	eventually(t, stderr, "blink toggles its pin", func() bool {
		return strings.Contains(must(t, "app", "logs", "blink", "--state", dir).stdout, "blink: pin 9 on")
	})
	table := must(t, "app", "list", "--state", dir).stdout
	for _, want := range []string{"NAME", "blink", app.Custom.ComponentID, "running", "9="} {
		if !strings.Contains(table, want) {
			t.Errorf("app list table lacks %q:\n%s", want, table)
		}
	}

	must(t, "app", "stop", "blink", "--state", dir)
	if apps := appList(t, dir); apps[0].State != apphost.StateStopped {
		t.Errorf("after app stop: %s", apps[0].State)
	}
	must(t, "app", "start", app.Custom.ComponentID, "--state", dir)
	if apps := appList(t, dir); apps[0].State != apphost.StateRunning {
		t.Errorf("after app start: %s", apps[0].State)
	}
	r = run(t, "app", "stop", "toaster", "--state", dir)
	if r.code != 1 {
		t.Errorf("stop an unknown app: exit %d", r.code)
	}
	oneErrorLine(t, r, "no such app")

	// The service withdraws the capability: the device goes back to Normal mode, and the
	// developer-signed app, kept by the Development group's policy, no longer runs.
	svc.Lock()
	svc.Capability = nil
	svc.Unlock()
	eventually(t, stderr, "the device restarts in Normal mode", func() bool {
		return bootMode(t, dir) == "normal" && run(t, "app", "list", "--state", dir).code == 0
	})
	apps = appList(t, dir)
	if len(apps) != 1 || apps[0].State != apphost.StateCrashed || !strings.Contains(apps[0].Error, "development capability") {
		t.Errorf("the developer-signed app without the capability: %+v", apps)
	}
	r = run(t, "sideload", pkg, "--state", dir)
	oneErrorLine(t, r, "development capability")

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(d.Path(control.Socket)); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the device: %v", err)
	}
	// The refusal is an error event: uploaded already, or still queued.
	queued, _, err := events.Open(d).Events()
	if err != nil {
		t.Fatal(err)
	}
	svc.Lock()
	for _, e := range svc.EventStore.Events {
		queued = append(queued, e)
	}
	svc.Unlock()
	refused := false
	for _, e := range queued {
		if e.Category == api.EventAppExit && string(e.ComponentID) == app.Custom.ComponentID && strings.HasPrefix(e.Description, "refused: ") {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no AppExit event says the developer-signed app was refused: %+v", queued)
	}
	noProblems(t, svc)
}

func TestAppCommandsWithoutRunningDevice(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	for _, args := range [][]string{
		{"app", "list", "--state", dir},
		{"app", "logs", "blink", "--state", dir},
		{"sideload", "/dev/null", "--state", dir},
	} {
		r := run(t, args...)
		if r.code != 1 {
			t.Errorf("%v: exit %d", args, r.code)
		}
		oneErrorLine(t, r, "is rampart-device run going?")
	}
}

// developerKey is the developer's key, as `rampart image pack` uses it.
var developerKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()
