package update_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
)

// factoryRuntime is the bytes of slot A: these tests never boot it.
const factoryRuntime = "#!/bin/sh\nexit 0\n"

// device is a device initialised against a stand-in service, with an update client that
// speaks mutual TLS with a certificate the stand-in issued.
type device struct {
	svc *servicetest.Service
	dir state.Dir

	certPEM, keyPEM []byte
}

func newDevice(t testing.TB) *device {
	t.Helper()
	svc := servicetest.New(t)
	path := filepath.Join(t.TempDir(), "device")
	keys := []byte(servicetest.PublicKeyPEM(&svc.RuntimeKey.PublicKey))
	id, err := boot.Init(path, boot.Factory{ServiceURL: svc.URL, ServiceCA: svc.CAPEM,
		Runtime: strings.NewReader(factoryRuntime), RuntimeKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{svc: svc, dir: dir}
	d.certPEM, d.keyPEM = svc.DeviceCertificate(t, id)
	return d
}

func (d *device) client(t testing.TB) *update.Client {
	return &update.Client{Dir: d.dir, ServiceURL: d.svc.URL, Slot: state.SlotA,
		HTTP: servicetest.Client(t, d.svc.CAPEM, d.certPEM, d.keyPEM)}
}

func (d *device) cycle(t *testing.T) (update.Result, error) {
	t.Helper()
	return d.client(t).Cycle(context.Background())
}

// mustCycle runs a cycle that must succeed.
func (d *device) mustCycle(t *testing.T) update.Result {
	t.Helper()
	res, err := d.cycle(t)
	if err != nil {
		t.Fatalf("update cycle: %v", err)
	}
	return res
}

// group sets the targets of the device's group repository.
func (d *device) group(ts ...servicetest.Target) {
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetTargets(ts...) })
}

// feed sets the targets of the device's OS feed.
func (d *device) feed(ts ...servicetest.Target) {
	d.edit(servicetest.FeedRepo, func(r *servicetest.Repo) { r.SetTargets(ts...) })
}

// edit changes the stand-in's repository name.
func (d *device) edit(name string, f func(*servicetest.Repo)) {
	r := d.svc.Repo(name)
	d.svc.Lock()
	defer d.svc.Unlock()
	f(r)
}

func (d *device) apps(t *testing.T) map[string]string {
	t.Helper()
	apps, err := update.Apps(d.dir, false)
	if err != nil {
		t.Fatalf("installed apps: %v", err)
	}
	out := map[string]string{}
	for _, a := range apps {
		out[a.Image.ComponentID] = a.Image.ImageID
	}
	return out
}

func (d *device) lastReport(t *testing.T) api.UpdateReport {
	t.Helper()
	d.svc.Lock()
	defer d.svc.Unlock()
	if len(d.svc.Reports) == 0 {
		t.Fatal("no update report")
	}
	return d.svc.Reports[len(d.svc.Reports)-1]
}

func (d *device) reports() int {
	d.svc.Lock()
	defer d.svc.Unlock()
	return len(d.svc.Reports)
}

func noProblems(t *testing.T, svc *servicetest.Service) {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	for _, p := range svc.Problems {
		t.Errorf("the stand-in saw a malformed request: %s", p)
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wasm(s string) []byte { return append([]byte("\x00asm\x01\x00\x00\x00"), s...) }

// downloads lists the files in downloads/.
func (d *device) downloads(t *testing.T) []string {
	entries, err := os.ReadDir(d.dir.Path(state.DirDownloads))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestUpdateInstallsDeployedApp(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	d.group(v1)

	res := d.mustCycle(t)
	if len(res.Changed) != 1 || res.Restart {
		t.Errorf("cycle result %+v: want one change and no restart", res)
	}
	comp, image := v1.Custom.ComponentID, v1.Custom.ImageID
	if got := d.apps(t); got[comp] != image || len(got) != 1 {
		t.Fatalf("installed apps %v, want %s → %s", got, comp, image)
	}
	appDir := d.dir.Path(state.DirApps, comp, image)
	if b, _ := os.ReadFile(filepath.Join(appDir, state.FileApp)); !bytes.Equal(b, wasm("v1")) {
		t.Errorf("app.wasm holds %q", b)
	}
	hdr, _ := os.ReadFile(filepath.Join(appDir, state.FilePackage))
	payload, _ := os.ReadFile(filepath.Join(appDir, state.FileApp))
	if !bytes.Equal(append(hdr, payload...), v1.Package) {
		t.Error("package.hdr followed by app.wasm is not the package")
	}
	if b, err := os.ReadFile(filepath.Join(appDir, state.FileAppManifest)); err != nil || !strings.Contains(string(b), `"EntryPoint": "app.wasm"`) {
		t.Errorf("manifest.json: %s, %v", b, err)
	}
	if got := d.downloads(t); len(got) != 0 {
		t.Errorf("downloads/ still holds %v", got)
	}
	rep := d.lastReport(t)
	if rep.Result != api.UpdateOK || len(rep.Installed) != 1 || rep.Installed[0].ImageID != image ||
		rep.Installed[0].Type != api.ImageApplication || rep.Installed[0].Name != "Toaster" {
		t.Errorf("report %+v", rep)
	}
	st, _ := d.dir.ReadStatus()
	if st.Update == nil || st.Update.Result != api.UpdateOK || !st.Update.Reported {
		t.Errorf("status update record %+v", st.Update)
	}

	// Nothing new: nothing changes and nothing is reported.
	n := d.reports()
	if res := d.mustCycle(t); len(res.Changed) != 0 {
		t.Errorf("a cycle with nothing new changed %v", res.Changed)
	}
	if d.reports() != n {
		t.Error("a cycle that changed nothing reported")
	}

	// A new version of the app replaces the old one.
	v2 := servicetest.App(t, comp, "Toaster", "1.1.0", wasm("v2"), d.svc.ImageKey)
	d.group(v2)
	d.mustCycle(t)
	if got := d.apps(t); got[comp] != v2.Custom.ImageID {
		t.Errorf("after v2: %v", got)
	}
	if _, err := os.Stat(appDir); err == nil {
		t.Error("the old version's folder is still there")
	}
	noProblems(t, d.svc)
}

func TestUpdateRemovesUndeployedApp(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	keep := servicetest.App(t, "", "Keep", "1.0.0", wasm("keep"), d.svc.ImageKey)
	drop := servicetest.App(t, "", "Drop", "1.0.0", wasm("drop"), d.svc.ImageKey)
	d.group(keep, drop)
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 2 {
		t.Fatalf("installed %v, want two apps", got)
	}

	d.group(keep)
	res := d.mustCycle(t)
	if got := d.apps(t); len(got) != 1 || got[keep.Custom.ComponentID] != keep.Custom.ImageID {
		t.Errorf("installed %v, want only %s", got, keep.Custom.Name)
	}
	if _, err := os.Stat(d.dir.Path(state.DirApps, drop.Custom.ComponentID)); err == nil {
		t.Error("the undeployed app's folder is still there")
	}
	if len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "removed") {
		t.Errorf("changes %v", res.Changed)
	}
	if rep := d.lastReport(t); rep.Result != api.UpdateOK || len(rep.Installed) != 1 {
		t.Errorf("report %+v", rep)
	}

	// An empty deployment removes every app.
	d.group()
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("after an empty deployment: %v", got)
	}
}

// refused runs a cycle that must fail with ErrRefused, install nothing, keep no download and
// report the failure.
func refused(t *testing.T, d *device, want string) {
	t.Helper()
	_, err := d.cycle(t)
	if !errors.Is(err, update.ErrRefused) {
		t.Fatalf("cycle: %v, want ErrRefused", err)
	}
	if want != "" && !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("installed %v", got)
	}
	if got := d.downloads(t); len(got) != 0 {
		t.Errorf("downloads/ keeps %v", got)
	}
	if rep := d.lastReport(t); rep.Result != api.UpdateFailed || rep.Message == "" {
		t.Errorf("report %+v, want a failure with a message", rep)
	}
	noProblems(t, d.svc)
}

func TestUpdateTamperedPackageRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("genuine"), d.svc.ImageKey)
	d.group(app)
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetFault(app.Name, &servicetest.Fault{Tamper: true}) })
	refused(t, d, "does not match its TUF target")

	// Served faithfully, the same target installs.
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetFault(app.Name, nil) })
	d.mustCycle(t)
	if got := d.apps(t); got[app.Custom.ComponentID] != app.Custom.ImageID {
		t.Errorf("installed %v", got)
	}
}

func TestUpdatePackageSignedByUnknownKeyRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	// TUF vouches for the bytes, but the package's signature is by a key the tenant never had.
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), newKey(t)))
	refused(t, d, "not signed by a trusted key")
}

func TestDeveloperSignedImageRefusedWithoutCapability(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	developer := newKey(t) // as `rampart image pack` signs before the service re-signs
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer))
	refused(t, d, "not signed by a trusted key")

	// Re-signed by the service with the tenant's image key, it installs.
	app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("dev"), developer, d.svc.ImageKey)
	d.group(app)
	d.mustCycle(t)
	if got := d.apps(t); got[app.Custom.ComponentID] != app.Custom.ImageID {
		t.Errorf("installed %v", got)
	}
}

func TestUpdateResumesInterruptedDownload(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	app := servicetest.App(t, "", "Big", "1.0.0", wasm(strings.Repeat("payload ", 20000)), d.svc.ImageKey)
	d.group(app)
	half := int64(len(app.Package) / 2)
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetFault(app.Name, &servicetest.Fault{CutAfter: half}) })

	_, err := d.cycle(t)
	if err == nil || errors.Is(err, update.ErrRefused) {
		t.Fatalf("cycle over a dropped connection: %v, want an error to retry", err)
	}
	if got := d.apps(t); len(got) != 0 {
		t.Fatalf("installed %v from half a package", got)
	}
	parts := d.downloads(t)
	if len(parts) != 1 || !strings.HasSuffix(parts[0], ".part") {
		t.Fatalf("downloads/ holds %v, want one .part", parts)
	}
	fi, _ := os.Stat(d.dir.Path(state.DirDownloads, parts[0]))
	if fi.Size() != half {
		t.Fatalf(".part holds %d bytes, want the %d received", fi.Size(), half)
	}

	d.mustCycle(t)
	if got := d.apps(t); got[app.Custom.ComponentID] != app.Custom.ImageID {
		t.Fatalf("installed %v", got)
	}
	d.svc.Lock()
	ranges := d.svc.Ranges
	d.svc.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+strconv.FormatInt(half, 10)+"-" {
		t.Errorf("Range headers %q, want none then bytes=%d-", ranges, half)
	}
	noProblems(t, d.svc)
}

func TestUpdateEndlessDataRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault servicetest.Fault
	}{
		{"endless stream", servicetest.Fault{Endless: true}},
		{"announced too long", servicetest.Fault{Oversize: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t)
			app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey)
			d.group(app)
			f := tc.fault
			d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetFault(app.Name, &f) })
			refused(t, d, "TUF")
		})
	}
}

func TestUpdateFreezeRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	d.group(v1)
	d.mustCycle(t)

	// The repository moves on, but what the device is served is frozen: its timestamp has
	// expired. The device must not act on it.
	v2 := servicetest.App(t, v1.Custom.ComponentID, "Toaster", "2.0.0", wasm("v2"), d.svc.ImageKey)
	d.group(v2)
	d.edit(servicetest.GroupRepo, (*servicetest.Repo).ExpireTimestamp)
	_, err := d.cycle(t)
	if !errors.Is(err, update.ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("cycle on frozen metadata: %v, want ErrRefused saying expired", err)
	}
	if got := d.apps(t); got[v1.Custom.ComponentID] != v1.Custom.ImageID {
		t.Errorf("installed %v, want v1 kept", got)
	}
	if rep := d.lastReport(t); rep.Result != api.UpdateFailed || !strings.Contains(rep.Message, "expired") {
		t.Errorf("report %+v", rep)
	}
}

func TestUpdatePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy      string
		app, stages bool
	}{
		{api.PolicyNone, false, false},
		{api.PolicyRuntimeOnly, false, true},
		{api.PolicyAll, true, true},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t)
			app := servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey)
			d.group(app)
			d.feed(servicetest.Runtime(t, "2.0.0", []byte("#!/bin/sh\nexit 0\n# 2.0.0\n"), d.svc.RuntimeKey))
			d.svc.Lock()
			d.svc.Updates.UpdatePolicy = tc.policy
			d.svc.Unlock()

			res := d.mustCycle(t)
			if got := d.apps(t); (len(got) == 1) != tc.app {
				t.Errorf("installed apps %v; want the app installed: %v", got, tc.app)
			}
			bc, _ := d.dir.ReadBoot()
			if (bc.Pending == state.SlotB) != tc.stages || res.Restart != tc.stages {
				t.Errorf("boot.json %+v, restart %v; want a runtime staged: %v", bc, res.Restart, tc.stages)
			}
			d.svc.Lock()
			tufRequests := len(d.svc.Ranges)
			d.svc.Unlock()
			if tc.policy == api.PolicyNone && tufRequests != 0 {
				t.Errorf("policy %s: %d target downloads", tc.policy, tufRequests)
			}
		})
	}
}

// TestUpdatePolicyNone and TestUpdatePolicyRuntimeOnly are in TestUpdatePolicies.

func TestRuntimeUpdateStagedInInactiveSlot(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	payload := []byte("#!/bin/sh\nexit 0\n# release 2.0.0\n")
	old := servicetest.Runtime(t, "1.9.0", []byte("#!/bin/sh\n# older\n"), d.svc.RuntimeKey)
	rt := servicetest.Runtime(t, "2.0.0", payload, d.svc.RuntimeKey)
	d.feed(old, rt)

	res := d.mustCycle(t)
	if !res.Restart {
		t.Fatal("a runtime update did not ask for a restart")
	}
	bc, _ := d.dir.ReadBoot()
	if bc.Active != state.SlotA || bc.Pending != state.SlotB || bc.Tries != 0 {
		t.Errorf("boot.json %+v: want slot b pending, untried, a still active", bc)
	}
	if b, _ := os.ReadFile(d.dir.Runtime(state.SlotB)); !bytes.Equal(b, payload) {
		t.Error("slot b does not hold the newest release")
	}
	// Stage 0 would boot it: its verifier accepts it under the runtime key's authority.
	keys, _ := d.dir.ReadRuntimeKeys()
	s, err := boot.MeasureSlot(d.dir, nil, state.SlotB)
	if err != nil {
		t.Fatalf("stage 0 refuses the installed runtime: %v", err)
	}
	if s.Measurements.Authority != boot.SignerAuthority(keys[0]) {
		t.Error("the authority is not the runtime key's")
	}
	s.Discard()
	if rep := d.lastReport(t); rep.Result != api.UpdateOK || !strings.Contains(rep.Message, "slot b") {
		t.Errorf("report %+v", rep)
	}

	// Once the trial has committed, the same release is the running one: nothing to do.
	bc.Active, bc.Pending = state.SlotB, ""
	d.dir.WriteBoot(bc)
	c := d.client(t)
	c.Slot = state.SlotB
	if res, err := c.Cycle(context.Background()); err != nil || res.Restart || len(res.Changed) != 0 {
		t.Errorf("cycle on the new runtime: %+v, %v", res, err)
	}
	if got, _ := update.Installed(d.dir, state.SlotB); len(got) != 1 || got[0].ImageID != rt.Custom.ImageID || got[0].Slot != "b" {
		t.Errorf("installed %+v", got)
	}
}

func TestRuntimeSignedByImageKeyRefused(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	// The tenant's image key signs apps; only the operator's runtime keys sign runtimes.
	d.feed(servicetest.Runtime(t, "2.0.0", []byte("#!/bin/sh\n"), d.svc.ImageKey))
	res, err := d.cycle(t)
	if !errors.Is(err, update.ErrRefused) || res.Restart {
		t.Fatalf("cycle: %+v, %v; want ErrRefused", res, err)
	}
	if bc, _ := d.dir.ReadBoot(); bc.Pending != "" {
		t.Errorf("boot.json %+v", bc)
	}
	if _, err := os.Stat(d.dir.Runtime(state.SlotB)); err == nil {
		t.Error("slot b holds the refused runtime")
	}
}

func TestRolledBackRuntimeNotRetried(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	bad := servicetest.Runtime(t, "2.0.0", []byte("#!/bin/sh\nexit 1\n"), d.svc.RuntimeKey)
	d.feed(bad)
	d.dir.EditStatus(func(st *state.Status) {
		st.RolledBack = &state.RollbackRecord{Slot: state.SlotB, ImageID: bad.Custom.ImageID, Reason: "exited with code 1"}
	})
	if res := d.mustCycle(t); res.Restart {
		t.Error("a rolled-back runtime was staged again")
	}
	good := servicetest.Runtime(t, "2.0.1", []byte("#!/bin/sh\nexit 0\n"), d.svc.RuntimeKey)
	d.feed(bad, good)
	if res := d.mustCycle(t); !res.Restart {
		t.Error("a newer release after a rollback was not staged")
	}
}

func TestUpdateGroupChangeTrustsNewRoot(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey))
	d.mustCycle(t)
	old := d.dir.Path(state.DirTUF, "group", servicetest.GroupID, "root.json")
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("the group's first root was not kept: %v", err)
	}
	const other = "00000000-0000-4000-8000-0000000000ff"
	d.svc.Lock()
	d.svc.Updates.GroupRepo = "group/" + other
	d.svc.Unlock()
	d.mustCycle(t)
	if got := d.apps(t); len(got) != 0 {
		t.Errorf("the new group deploys nothing, but %v are installed", got)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("the old group's metadata is still trusted")
	}
	if _, err := os.Stat(d.dir.Path(state.DirTUF, "group", other, "root.json")); err != nil {
		t.Errorf("the new group's root: %v", err)
	}
}

func TestStaleTrustedRootIsKept(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey))
	d.mustCycle(t)
	// Another service (or a man in the middle) with its own keys for the same repository
	// name: the device keeps the root it trusts and refuses the impostor's metadata.
	impostor := newDevice(t)
	impostor.group(servicetest.App(t, "", "Evil", "1.0.0", wasm("evil"), impostor.svc.ImageKey))
	root := d.dir.Path(state.DirTUF, "group", servicetest.GroupID, "root.json")
	before, _ := os.ReadFile(root)
	c := d.client(t)
	c.ServiceURL = impostor.svc.URL
	c.HTTP = servicetest.Client(t, impostor.svc.CAPEM, impostor.certPEM, impostor.keyPEM)
	if _, err := c.Cycle(context.Background()); !errors.Is(err, update.ErrRefused) {
		t.Fatalf("cycle against an impostor: %v, want ErrRefused", err)
	}
	if after, _ := os.ReadFile(root); !bytes.Equal(before, after) {
		t.Error("the trusted root changed")
	}
	if got := d.apps(t); len(got) != 1 {
		t.Errorf("installed %v", got)
	}
}

// TestRollbackReportSurvivesOutage: a rollback that stage 0 recorded is reported first, even
// after cycles that could not reach the service; it is never overwritten unreported.
func TestRollbackReportSurvivesOutage(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	d.dir.EditStatus(func(st *state.Status) {
		st.Update = &state.UpdateRecord{At: time.Now(), Result: api.UpdateRolledBack, Message: "exited with code 1"}
	})
	d.group(servicetest.App(t, "", "Toaster", "1.0.0", wasm("x"), d.svc.ImageKey))
	d.svc.Lock()
	d.svc.ReportStatus = http.StatusServiceUnavailable
	d.svc.Unlock()
	if _, err := d.cycle(t); err == nil {
		t.Fatal("a cycle that could not report succeeded")
	}
	st, _ := d.dir.ReadStatus()
	if st.Update == nil || st.Update.Result != api.UpdateRolledBack || st.Update.Reported {
		t.Fatalf("after an outage: %+v, want the rollback kept, unreported", st.Update)
	}

	d.svc.Lock()
	d.svc.ReportStatus = 0
	d.svc.Unlock()
	d.mustCycle(t)
	d.svc.Lock()
	defer d.svc.Unlock()
	if len(d.svc.Reports) != 2 || d.svc.Reports[0].Result != api.UpdateRolledBack || d.svc.Reports[1].Result != api.UpdateOK {
		t.Errorf("reports %+v: want the rollback, then the app install", d.svc.Reports)
	}
}

// TestUpdateWaitsForMaintenanceWindow: outside the group's window an app update is deferred,
// with when the window opens; inside it, or for an urgent deployment, it installs.
func TestUpdateWaitsForMaintenanceWindow(t *testing.T) {
	t.Parallel()
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	d.group(v1)
	d.svc.Lock()
	d.svc.Updates.MaintenanceWindow = "Sat 02:00-04:00 UTC"
	d.svc.Unlock()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // a Saturday, after the window
	c := d.client(t)
	c.Now = func() time.Time { return now }
	res, err := c.Cycle(context.Background())
	if err != nil || len(res.Changed) != 0 || len(res.Deferred) != 1 || !strings.Contains(res.Deferred[0], "maintenance window") ||
		!res.WindowOpens.Equal(time.Date(2026, 12, 12, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("outside the window: %+v, %v", res, err)
	}
	if got := d.apps(t); len(got) != 0 {
		t.Fatalf("installed outside the window: %v", got)
	}

	// Urgent: installed at once.
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetUrgent(true) })
	if res, err := c.Cycle(context.Background()); err != nil || len(res.Changed) != 1 || !res.WindowOpens.IsZero() {
		t.Fatalf("an urgent deployment outside the window: %+v, %v", res, err)
	}

	// Not urgent, inside the window: installed.
	v2 := servicetest.App(t, v1.Custom.ComponentID, "Toaster", "2.0.0", wasm("v2"), d.svc.ImageKey)
	d.edit(servicetest.GroupRepo, func(r *servicetest.Repo) { r.SetUrgent(false) })
	d.group(v2)
	now = time.Date(2026, 12, 12, 3, 0, 0, 0, time.UTC)
	if res, err := c.Cycle(context.Background()); err != nil || len(res.Changed) != 1 {
		t.Fatalf("inside the window: %+v, %v", res, err)
	}
}
