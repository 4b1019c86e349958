package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/control"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
)

// backend is a stand-in for stage 1's app host: one app, "blink".
type backend struct {
	mu       sync.Mutex
	state    apphost.State
	received int
}

func (b *backend) List() []apphost.AppStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return []apphost.AppStatus{{Name: "blink", ComponentID: "5c8d3e4a-7b21-4f0e-9a6d-2e1f3c4b5a69", State: b.state,
		Pins: []apphost.Pin{{Pin: 9, Value: 1}}}}
}

func (b *backend) set(name string, st apphost.State) error {
	if name != "blink" {
		return fmt.Errorf("%w %q", apphost.ErrNoApp, name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = st
	return nil
}

func (b *backend) Start(name string) error { return b.set(name, apphost.StateRunning) }
func (b *backend) Stop(name string) error  { return b.set(name, apphost.StateStopped) }

func (b *backend) Log(name string) ([]byte, error) {
	if name != "blink" {
		return nil, fmt.Errorf("%w %q", apphost.ErrNoApp, name)
	}
	return []byte("blink: pin 9 on\n"), nil
}

func (b *backend) PutStorage(name, file string, data []byte) error {
	if name != "blink" {
		return fmt.Errorf("%w %q", apphost.ErrNoApp, name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.received = len(data)
	return nil
}

func (b *backend) Sideload(r io.Reader) (api.InstalledImage, error) {
	n, err := io.Copy(io.Discard, r)
	b.mu.Lock()
	b.received = int(n)
	b.mu.Unlock()
	if err != nil {
		return api.InstalledImage{}, fmt.Errorf("receive: %w", err)
	}
	if n < 4 {
		return api.InstalledImage{}, update.ErrNoCapability
	}
	return api.InstalledImage{Name: "blink", Type: api.ImageApplication}, nil
}

func stateDir(t *testing.T) state.Dir {
	dir := filepath.Join(t.TempDir(), "device")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return state.Dir(dir)
}

func serve(t *testing.T) (state.Dir, *backend, *control.Client) {
	t.Helper()
	dir := stateDir(t)
	b := &backend{state: apphost.StateRunning}
	s, err := control.Listen(dir, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, b, control.NewClient(dir)
}

func TestControlSocketIsOwnerOnly(t *testing.T) {
	t.Parallel()
	dir, _, _ := serve(t)
	fi, err := os.Lstat(dir.Path(control.Socket))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control.sock has mode %v, want a socket with mode 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(string(dir))
	if len(entries) != 1 {
		t.Errorf("the state folder holds %d entries; want the socket only (no temporary name left)", len(entries))
	}
}

func TestControlProtocol(t *testing.T) {
	t.Parallel()
	_, _, c := serve(t)
	ctx := context.Background()

	apps, err := c.List(ctx)
	if err != nil || len(apps) != 1 || apps[0].Name != "blink" || apps[0].Pins[0] != (apphost.Pin{Pin: 9, Value: 1}) {
		t.Fatalf("list: %+v, %v", apps, err)
	}
	if err := c.Stop(ctx, "blink"); err != nil {
		t.Fatal(err)
	}
	if apps, _ := c.List(ctx); apps[0].State != apphost.StateStopped {
		t.Errorf("after stop: %s", apps[0].State)
	}
	if err := c.Start(ctx, "blink"); err != nil {
		t.Fatal(err)
	}
	var se *control.ServiceError
	if err := c.Start(ctx, "toaster"); !errors.As(err, &se) || se.Status != 404 || !strings.Contains(err.Error(), "no such app") {
		t.Errorf("start an unknown app: %v", err)
	}
	if err := c.Stop(ctx, strings.Repeat("x", control.MaxName+1)); !errors.As(err, &se) || se.Status != 400 {
		t.Errorf("a name too long: %v", err)
	}
	if log, err := c.Log(ctx, "blink"); err != nil || string(log) != "blink: pin 9 on\n" {
		t.Errorf("log: %q, %v", log, err)
	}
	if _, err := c.Sideload(ctx, strings.NewReader("x")); !errors.As(err, &se) || se.Status != 403 || !strings.Contains(err.Error(), "development capability") {
		t.Errorf("sideload refused by the backend: %v", err)
	}
	if im, err := c.Sideload(ctx, bytes.NewReader(make([]byte, 1<<20))); err != nil || im.Name != "blink" {
		t.Errorf("sideload: %+v, %v", im, err)
	}
}

// TestSideloadBodyIsBounded: a package over the limit is cut off at the limit, whatever the
// client announces.
func TestSideloadBodyIsBounded(t *testing.T) {
	t.Parallel()
	_, b, c := serve(t)
	_, err := c.Sideload(context.Background(), io.LimitReader(zeros{}, control.MaxUpload+10))
	var se *control.ServiceError
	if !errors.As(err, &se) || se.Status != 413 {
		t.Errorf("an oversized package: %v, want 413", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.received > control.MaxUpload {
		t.Errorf("the backend read %d bytes", b.received)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestNoRunningDevice(t *testing.T) {
	t.Parallel()
	c := control.NewClient(stateDir(t))
	if _, err := c.List(context.Background()); !errors.Is(err, control.ErrNotRunning) || !strings.Contains(err.Error(), "is rampart-device run going?") {
		t.Errorf("list without a running device: %v", err)
	}
}

// TestStaleSocketReplaced: a socket left by a stage 1 that died is replaced; a live one is not
// taken over.
func TestStaleSocketReplaced(t *testing.T) {
	t.Parallel()
	dir, _, _ := serve(t)
	if _, err := control.Listen(dir, &backend{}); err == nil || !strings.Contains(err.Error(), "another") {
		t.Errorf("a second server on a live socket: %v", err)
	}
	dir2 := stateDir(t)
	if err := os.WriteFile(dir2.Path(control.Socket), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := control.Listen(dir2, &backend{})
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	s.Close()
	if _, err := os.Stat(dir2.Path(control.Socket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket: %v", err)
	}
}
