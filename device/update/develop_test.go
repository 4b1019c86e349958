package update_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
	"github.com/rampart-iot/rampart/ident"
)

func (d *device) id(t *testing.T) ident.DeviceID {
	t.Helper()
	dev, err := d.dir.ReadDevice()
	if err != nil {
		t.Fatal(err)
	}
	return dev.DeviceID
}

// holdCapability stores capability bytes as stage 1 does at check-in.
func (d *device) holdCapability(t *testing.T, b []byte) {
	t.Helper()
	if _, err := d.dir.WriteCapability(b); err != nil {
		t.Fatal(err)
	}
}

// verifyInstalled runs the app host's check of app comp's current version.
func (d *device) verifyInstalled(t *testing.T, comp, image string) error {
	t.Helper()
	dir := d.dir.Path(state.DirApps, comp, image)
	module, err := os.ReadFile(filepath.Join(dir, state.FileApp))
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(dir, state.FileAppManifest))
	if err != nil {
		t.Fatal(err)
	}
	return update.VerifyApp(d.dir, d.id(t), dir, module, m)
}

func TestSideloadWithoutCapabilityRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.mustCycle(t) // learns the tenant keys
	developer := newKey(t)
	pkg := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer)
	for _, p := range [][]byte{pkg.Package, servicetest.App(t, "", "Kettle", "1.0.0", wasm("t"), d.svc.ImageKey).Package} {
		if _, err := update.Sideload(d.dir, bytes.NewReader(p)); !errors.Is(err, update.ErrNoCapability) {
			t.Errorf("sideload without the capability: %v, want ErrNoCapability", err)
		}
	}
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("installed %v", got)
	}
	if got := d.downloads(t); len(got) != 0 {
		t.Errorf("downloads/ keeps %v", got)
	}
}

func TestSideloadWithCapability(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.mustCycle(t)
	developer, stranger := newKey(t), newKey(t)
	d.holdCapability(t, d.svc.DevelopmentCapability(t, d.id(t), &developer.PublicKey))

	for _, tc := range []struct {
		name string
		pkg  []byte
		want string
	}{
		{"unknown signer", servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), stranger).Package, "not signed by a trusted key"},
		{"runtime", servicetest.Runtime(t, "9.0.0", []byte("#!/bin/sh\n"), developer).Package, "only applications"},
		{"tampered", tamper(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), developer).Package), ""},
		{"truncated", servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), developer).Package[:40], ""},
	} {
		if _, err := update.Sideload(d.dir, bytes.NewReader(tc.pkg)); !errors.Is(err, update.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrRefused saying %q", tc.name, err, tc.want)
		}
	}
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("refused packages installed %v", got)
	}

	for _, signer := range []string{"developer", "tenant"} {
		key := developer
		if signer == "tenant" {
			key = d.svc.ImageKey
		}
		app := servicetest.App(t, "", "Toaster-"+signer, "1.0.0", wasm(signer), key)
		im, err := update.Sideload(d.dir, bytes.NewReader(app.Package))
		if err != nil {
			t.Fatalf("sideload a %s-signed app: %v", signer, err)
		}
		if im.ImageID != app.Custom.ImageID || im.Type != api.ImageApplication {
			t.Errorf("sideloaded %+v", im)
		}
		if err := d.verifyInstalled(t, app.Custom.ComponentID, app.Custom.ImageID); err != nil {
			t.Errorf("the app host would refuse the sideloaded %s-signed app: %v", signer, err)
		}
	}
	if got := d.apps(t); len(got) != 2 {
		t.Errorf("installed %v", got)
	}
	if got := d.downloads(t); len(got) != 0 {
		t.Errorf("downloads/ keeps %v", got)
	}
}

func tamper(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}

func TestDeveloperSignedAppInstallsWithCapability(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	developer := newKey(t)
	d.mustCycle(t)
	d.holdCapability(t, d.svc.DevelopmentCapability(t, d.id(t), &developer.PublicKey))
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer)
	d.group(app)
	d.mustCycle(t)
	if got := d.apps(t); got[app.Custom.ComponentID] != app.Custom.ImageID {
		t.Errorf("installed %v", got)
	}
	noProblems(t, d.svc)
}

func TestCapabilityForAnotherDeviceIgnored(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	developer := newKey(t)
	d.mustCycle(t)
	other := ident.DeviceIDFromPublicKey([]byte("another device"))
	for name, c := range map[string][]byte{
		"for another device":   d.svc.DevelopmentCapability(t, other, &developer.PublicKey),
		"signed by a stranger": servicetest.SignCapability(t, newKey(t), d.id(t), &developer.PublicKey),
	} {
		d.holdCapability(t, c)
		if _, err := d.dir.Development(d.id(t)); err == nil {
			t.Errorf("%s: the device holds it", name)
		}
		pkg := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer)
		if _, err := update.Sideload(d.dir, bytes.NewReader(pkg.Package)); !errors.Is(err, update.ErrNoCapability) {
			t.Errorf("%s: sideload: %v, want ErrNoCapability", name, err)
		}
		d.group(pkg)
		refused(t, d, "not signed by a trusted key")
	}
}

func TestCapabilityRemovedStopsAcceptingDeveloperImages(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	developer := newKey(t)
	d.mustCycle(t)
	d.holdCapability(t, d.svc.DevelopmentCapability(t, d.id(t), &developer.PublicKey))
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer)
	if _, err := update.Sideload(d.dir, bytes.NewReader(app.Package)); err != nil {
		t.Fatal(err)
	}
	comp, image := app.Custom.ComponentID, app.Custom.ImageID
	if err := d.verifyInstalled(t, comp, image); err != nil {
		t.Fatalf("with the capability: %v", err)
	}

	if _, err := d.dir.RemoveCapability(); err != nil {
		t.Fatal(err)
	}
	// The installed app no longer passes the check before its next run…
	if err := d.verifyInstalled(t, comp, image); !errors.Is(err, update.ErrRefused) || !strings.Contains(err.Error(), "development capability") {
		t.Errorf("after the capability went: %v, want ErrRefused", err)
	}
	// …no developer-signed app is sideloaded or installed from the cloud…
	next := servicetest.App(t, "", "Kettle", "1.0.0", wasm("dev2"), developer)
	if _, err := update.Sideload(d.dir, bytes.NewReader(next.Package)); !errors.Is(err, update.ErrNoCapability) {
		t.Errorf("sideload after the capability went: %v", err)
	}
	d.group(next)
	if _, err := d.cycle(t); !errors.Is(err, update.ErrRefused) {
		t.Errorf("cycle: %v, want ErrRefused", err)
	}
	// …and a tenant-signed app still runs.
	tenant := servicetest.App(t, "", "Kettle", "1.0.1", wasm("t"), d.svc.ImageKey)
	d.group(tenant)
	d.mustCycle(t)
	if err := d.verifyInstalled(t, tenant.Custom.ComponentID, tenant.Custom.ImageID); err != nil {
		t.Errorf("tenant-signed app: %v", err)
	}
}

func TestInstalledAppTamperedRefusedBeforeRun(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("ok"), d.svc.ImageKey)
	d.group(app)
	d.mustCycle(t)
	comp, image := app.Custom.ComponentID, app.Custom.ImageID
	if err := d.verifyInstalled(t, comp, image); err != nil {
		t.Fatal(err)
	}
	dir := d.dir.Path(state.DirApps, comp, image)
	m, _ := os.ReadFile(filepath.Join(dir, state.FileAppManifest))
	if err := update.VerifyApp(d.dir, d.id(t), dir, wasm("evil"), m); !errors.Is(err, update.ErrRefused) {
		t.Errorf("another module: %v", err)
	}
	granted := bytes.Replace(m, []byte(`"Name": "Toaster"`), []byte(`"Name": "Toaster", "Capabilities": {"Gpio": [1]}`), 1)
	if err := update.VerifyApp(d.dir, d.id(t), dir, wasm("ok"), granted); !errors.Is(err, update.ErrRefused) {
		t.Errorf("a manifest granting more: %v", err)
	}
}

func TestDevelopmentPolicyKeepsSideloadedApps(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	developer := newKey(t)
	d.mustCycle(t)
	d.holdCapability(t, d.svc.DevelopmentCapability(t, d.id(t), &developer.PublicKey))
	side := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer)
	if _, err := update.Sideload(d.dir, bytes.NewReader(side.Package)); err != nil {
		t.Fatal(err)
	}
	// The cloud deploys another version of it, and another app, to the group; the
	// Development group's policy keeps the device's apps as the developer left them.
	d.group(servicetest.App(t, side.Custom.ComponentID, "Toaster", "2.0.0", wasm("cloud"), d.svc.ImageKey),
		servicetest.App(t, "", "Kettle", "1.0.0", wasm("k"), d.svc.ImageKey))
	d.svc.Lock()
	d.svc.Updates.UpdatePolicy = api.PolicyRuntimeOnly
	d.svc.Unlock()
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 1 || got[side.Custom.ComponentID] != side.Custom.ImageID {
		t.Errorf("under %s, apps are %v; want only the sideloaded one", api.PolicyRuntimeOnly, got)
	}
	d.group() // nothing deployed
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 1 {
		t.Errorf("under %s with no deployment, apps are %v", api.PolicyRuntimeOnly, got)
	}
	// Under UpdateAll the deployment rules: the sideloaded app is removed.
	d.svc.Lock()
	d.svc.Updates.UpdatePolicy = api.PolicyAll
	d.svc.Unlock()
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("under %s with no deployment, apps are %v", api.PolicyAll, got)
	}
}

// fakeHost is an app host whose apps defer every update by an hour.
type fakeHost struct {
	mu       sync.Mutex
	notified []string
	until    time.Time
}

func (h *fakeHost) NotifyUpdatePending(kind string, deadline time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if deadline.IsZero() {
		h.notified = append(h.notified, "done "+kind)
		return
	}
	h.notified = append(h.notified, kind)
}

func (h *fakeHost) NotifyUpdateFinal(kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notified = append(h.notified, "final "+kind)
}

func (h *fakeHost) Deferred(string) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until
}

func TestDeferredUpdateIsNotInstalled(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey)
	d.group(app)
	d.feed(servicetest.Runtime(t, "2.0.0", []byte("#!/bin/sh\nexit 0\n# 2.0.0\n"), d.svc.RuntimeKey))
	host := &fakeHost{until: time.Now().Add(time.Hour)}
	c := d.client(t)
	c.Apps = host
	res, err := c.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 || res.Restart || len(res.Deferred) != 2 {
		t.Errorf("deferred cycle: %+v", res)
	}
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("installed %v", got)
	}
	if bc, _ := d.dir.ReadBoot(); bc.Pending != "" {
		t.Errorf("a deferred runtime was staged: %+v", bc)
	}
	if rep := d.lastReport(t); rep.Result != api.UpdateOK || !strings.Contains(rep.Message, "deferred") {
		t.Errorf("report %+v", rep)
	}

	// The deferral ends: both install, and the apps hear that nothing is pending any more.
	host.mu.Lock()
	host.until = time.Time{}
	host.mu.Unlock()
	res, err = c.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 2 || !res.Restart {
		t.Errorf("cycle after the deferral: %+v", res)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	got := strings.Join(host.notified, ",")
	if !strings.Contains(got, "done application") || !strings.Contains(got, "done runtime") {
		t.Errorf("notifications %s", got)
	}
}

// TestUnrenewedDeferralExpires: an app deferred the update once and did not renew the deferral.
// While it holds, cycles skip the update without asking the apps again; once it has expired,
// the next cycle announces the update again, the apps do not defer it, and it is installed, the
// apps told first that it goes ahead and then that it is done. The clock is the client's.
func TestUnrenewedDeferralExpires(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey))
	t0 := time.Now()
	now := t0
	host := &fakeHost{until: t0.Add(10 * time.Minute)} // never renewed
	c := d.client(t)
	c.Apps, c.Now = host, func() time.Time { return now }

	for _, at := range []time.Duration{0, 5 * time.Minute, 10*time.Minute - time.Second} {
		now = t0.Add(at)
		res, err := c.Cycle(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changed) != 0 || len(res.Deferred) != 1 {
			t.Errorf("cycle at +%s, while the deferral holds: %+v", at, res)
		}
	}
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("installed %v while deferred", got)
	}
	host.mu.Lock()
	if len(host.notified) != 0 {
		t.Errorf("apps were asked again while the deferral held: %v", host.notified)
	}
	host.mu.Unlock()

	now = t0.Add(10 * time.Minute) // it holds until, not at, this time
	res, err := c.Cycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || len(res.Deferred) != 0 {
		t.Errorf("cycle after the deferral expired: %+v", res)
	}
	if got := d.apps(t); len(got) != 1 {
		t.Errorf("after the deferral expired, apps are %v", got)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if got, want := strings.Join(host.notified, ","), "application,final application,done application"; got != want {
		t.Errorf("notifications %s, want %s", got, want)
	}
}
