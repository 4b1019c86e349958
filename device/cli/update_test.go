package devicecli

import (
	"crypto/sha512"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
)

// newRuntime is a runtime release: this program with a marker appended, so another image with
// another measurement that behaves the same.
func newRuntime(t *testing.T, svc *servicetest.Service, version string) (servicetest.Target, []byte) {
	t.Helper()
	b, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, "\n# rampart-device release "+version+"\n"...)
	return servicetest.Runtime(t, version, b, svc.RuntimeKey), b
}

// unhealthyRuntime is a runtime release that exits 1 at once: a Go program built here.
func unhealthyRuntime(t *testing.T, svc *servicetest.Service) servicetest.Target {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Exit(1) }\n"), 0o600)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "unhealthy"), src)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the unhealthy runtime: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "unhealthy"))
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Runtime(t, "2.0.0", b, svc.RuntimeKey)
}

func publish(svc *servicetest.Service, repo string, ts ...servicetest.Target) {
	r := svc.Repo(repo)
	svc.Lock()
	defer svc.Unlock()
	r.SetTargets(ts...)
}

func lastReport(t *testing.T, svc *servicetest.Service) api.UpdateReport {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	if len(svc.Reports) == 0 {
		t.Fatal("no update report")
	}
	return svc.Reports[len(svc.Reports)-1]
}

func noProblems(t *testing.T, svc *servicetest.Service) {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	for _, p := range svc.Problems {
		t.Errorf("the stand-in saw a malformed request: %s", p)
	}
}

// TestRuntimeUpdateCommitsAfterHealthCheck: a runtime release on the feed is installed in slot
// B, booted once by stage 0, and kept as the active slot after it attests and checks in.
func TestRuntimeUpdateCommitsAfterHealthCheck(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, id := initDevice(t, svc)
	rt, payload := newRuntime(t, svc, "2.0.0")
	publish(svc, servicetest.FeedRepo, rt)

	r := must(t, "run", "--state", dir, "--once")
	for _, want := range []string{"installed in slot b", "on trial", "passed its health check and is committed", "checked in as " + id} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	v := status(t, dir)
	sum := sha512.Sum512(payload)
	auth := boot.SignerAuthority(&svc.RuntimeKey.PublicKey)
	if v.ActiveSlot != "b" || v.PendingSlot != "" {
		t.Errorf("slots: active %s, pending %q; want b and none", v.ActiveSlot, v.PendingSlot)
	}
	if b := v.Boot; b == nil || b.Slot != "b" || b.RuntimeSHA512 != hex.EncodeToString(sum[:]) || b.AuthoritySHA512 != hex.EncodeToString(auth[:]) {
		t.Errorf("last boot %+v: want slot b, the release's SHA-512 and the runtime key's authority", v.Boot)
	}
	if len(v.InstalledImages) != 1 || v.InstalledImages[0].ImageID != rt.Custom.ImageID || v.InstalledImages[0].Slot != "b" ||
		v.InstalledImages[0].Type != api.ImageRuntime || v.InstalledImages[0].Version != "2.0.0" {
		t.Errorf("installed images %+v", v.InstalledImages)
	}
	if u := v.LastUpdate; u == nil || u.Result != api.UpdateOK || !u.Reported || !strings.Contains(u.Message, "committed") {
		t.Errorf("last update %+v", v.LastUpdate)
	}
	rep := lastReport(t, svc)
	if rep.Result != api.UpdateOK || len(rep.Installed) != 1 || rep.Installed[0].Slot != "b" {
		t.Errorf("last report %+v", rep)
	}
	svc.Lock()
	if svc.Attests != 2 || len(svc.Evidence) != 2 || svc.Evidence[1].Claims.Measurements.Runtime != sum {
		t.Errorf("%d attestations; want the factory runtime's, then the new runtime's", svc.Attests)
	}
	svc.Unlock()

	// The next run boots slot b as it is: no new attestation, nothing to install, no report.
	svc.Lock()
	reports := len(svc.Reports)
	svc.Unlock()
	must(t, "run", "--state", dir, "--once")
	svc.Lock()
	if svc.Attests != 2 || len(svc.Reports) != reports {
		t.Errorf("a second run attested (%d) or reported (%d → %d)", svc.Attests, reports, len(svc.Reports))
	}
	svc.Unlock()
	if v := status(t, dir); v.Boot.Slot != "b" {
		t.Errorf("second run booted slot %s", v.Boot.Slot)
	}
	noProblems(t, svc)
}

// TestRuntimeUpdateRollsBackWhenUnhealthy: the new runtime exits 1 at once; stage 0 boots the
// old slot again, and the old runtime reports the rollback and does not try the release again.
func TestRuntimeUpdateRollsBackWhenUnhealthy(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	rt := unhealthyRuntime(t, svc)
	publish(svc, servicetest.FeedRepo, rt)

	r := must(t, "run", "--state", dir, "--once")
	if !strings.Contains(r.stderr, "exited with code 1 before it committed; rolling back to slot a") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	v := status(t, dir)
	if v.ActiveSlot != "a" || v.PendingSlot != "" || v.Boot == nil || v.Boot.Slot != "a" {
		t.Errorf("after the rollback: active %s, pending %q, last boot %+v", v.ActiveSlot, v.PendingSlot, v.Boot)
	}
	if u := v.LastUpdate; u == nil || u.Result != api.UpdateRolledBack || !u.Reported || !strings.Contains(u.Message, "exited with code 1") {
		t.Errorf("last update %+v", v.LastUpdate)
	}
	if rb := v.RolledBack; rb == nil || rb.ImageID != rt.Custom.ImageID || rb.Slot != "b" {
		t.Errorf("rolled back %+v", v.RolledBack)
	}
	if len(v.InstalledImages) != 0 {
		t.Errorf("installed images %+v: the factory runtime is not listed, the rolled-back one must not be", v.InstalledImages)
	}
	rep := lastReport(t, svc)
	if rep.Result != api.UpdateRolledBack || len(rep.Installed) != 0 {
		t.Errorf("last report %+v", rep)
	}

	// Not tried again.
	r = must(t, "run", "--state", dir, "--once")
	if strings.Contains(r.stderr, "rolling back") || strings.Contains(r.stderr, "installed in slot") {
		t.Errorf("the rolled-back release was tried again:\n%s", r.stderr)
	}
	if v := status(t, dir); v.ActiveSlot != "a" || v.LastUpdate.Result != api.UpdateRolledBack {
		t.Errorf("after a second run: %+v", v)
	}
	noProblems(t, svc)
}

// TestPowerCutDuringRuntimeSwitch starts the real program from each state that a power cut
// can leave between installing a runtime and reporting it: it must boot, and converge.
func TestPowerCutDuringRuntimeSwitch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cut   func(d state.Dir, rt servicetest.Target, payload []byte)
		check func(t *testing.T, v statusView, stderr string)
	}{
		{"runtime written, header not", func(d state.Dir, _ servicetest.Target, payload []byte) {
			os.WriteFile(d.Runtime(state.SlotB), payload, 0o700)
		}, committed},
		{"installed, not pending", func(d state.Dir, rt servicetest.Target, payload []byte) {
			installSlotB(d, rt, payload)
		}, committed},
		{"pending, not started", func(d state.Dir, rt servicetest.Target, payload []byte) {
			installSlotB(d, rt, payload)
			editBoot(d, func(b *state.Boot) { b.Pending = state.SlotB })
		}, committed},
		{"trial started, not committed", func(d state.Dir, rt servicetest.Target, payload []byte) {
			installSlotB(d, rt, payload)
			editBoot(d, func(b *state.Boot) { b.Pending, b.Tries = state.SlotB, 1 })
		}, func(t *testing.T, v statusView, stderr string) {
			// Rolled back first, then tried once more, and committed.
			if !strings.Contains(stderr, "never committed") {
				t.Errorf("stderr lacks the rollback:\n%s", stderr)
			}
			committed(t, v, stderr)
		}},
		{"committed, not reported", func(d state.Dir, rt servicetest.Target, payload []byte) {
			installSlotB(d, rt, payload)
			editBoot(d, func(b *state.Boot) { b.Active = state.SlotB })
			d.EditStatus(func(st *state.Status) {
				st.Update = &state.UpdateRecord{At: time.Now(), Result: api.UpdateOK, Message: "runtime 2.0.0 committed"}
			})
		}, committed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc := servicetest.New(t)
			path, _ := initDevice(t, svc)
			rt, payload := newRuntime(t, svc, "2.0.0")
			publish(svc, servicetest.FeedRepo, rt)
			d, err := state.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.cut(d, rt, payload)
			r := must(t, "run", "--state", path, "--once")
			tc.check(t, status(t, path), r.stderr)
			if rep := lastReport(t, svc); rep.Result != api.UpdateOK || len(rep.Installed) != 1 || rep.Installed[0].Slot != "b" {
				t.Errorf("last report %+v", rep)
			}
			noProblems(t, svc)
		})
	}
}

func committed(t *testing.T, v statusView, stderr string) {
	t.Helper()
	if v.ActiveSlot != "b" || v.PendingSlot != "" || v.Boot == nil || v.Boot.Slot != "b" {
		t.Errorf("active %s, pending %q, last boot %+v; want slot b committed\n%s", v.ActiveSlot, v.PendingSlot, v.Boot, stderr)
	}
	if u := v.LastUpdate; u == nil || u.Result != api.UpdateOK || !u.Reported {
		t.Errorf("last update %+v", v.LastUpdate)
	}
}

func installSlotB(d state.Dir, rt servicetest.Target, payload []byte) {
	hdr := rt.Package[:len(rt.Package)-len(payload)]
	os.WriteFile(d.Runtime(state.SlotB), payload, 0o700)
	os.WriteFile(d.Package(state.SlotB), hdr, 0o600)
}

func editBoot(d state.Dir, edit func(*state.Boot)) {
	bc, _ := d.ReadBoot()
	edit(&bc)
	d.WriteBoot(bc)
}

// TestUpdateInstallsAppsAndStatusListsThem runs the real program against a deployment of two
// apps and checks what `status` shows.
func TestUpdateInstallsAppsAndStatusListsThem(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	a := servicetest.App(t, "", "Toaster", "1.0.0", []byte("\x00asm\x01\x00\x00\x00toaster"), svc.ImageKey)
	b := servicetest.App(t, "", "Kettle", "3.1.4", []byte("\x00asm\x01\x00\x00\x00kettle"), svc.ImageKey)
	publish(svc, servicetest.GroupRepo, a, b)
	must(t, "run", "--state", dir, "--once")
	v := status(t, dir)
	if len(v.InstalledImages) != 2 {
		t.Fatalf("installed images %+v", v.InstalledImages)
	}
	for _, im := range v.InstalledImages {
		if im.Type != api.ImageApplication || im.Slot != "" || (im.ImageID != a.Custom.ImageID && im.ImageID != b.Custom.ImageID) {
			t.Errorf("installed image %+v", im)
		}
	}
	raw := must(t, "status", "--state", dir, "--output", "json").stdout
	for _, field := range []string{`"installed_images"`, `"image_id"`, `"component_id"`, `"last_update"`, `"result": "ok"`} {
		if !strings.Contains(raw, field) {
			t.Errorf("status JSON lacks %s:\n%s", field, raw)
		}
	}
	table := must(t, "status", "--state", dir).stdout
	if !strings.Contains(table, "Kettle 3.1.4") || !strings.Contains(table, "last update") {
		t.Errorf("status table:\n%s", table)
	}
	// The next attestation lists the installed apps in its evidence.
	must(t, "run", "--state", dir, "--once", "--force-attest")
	svc.Lock()
	ev := svc.Evidence[len(svc.Evidence)-1]
	svc.Unlock()
	if len(ev.Claims.Images) != 2 {
		t.Errorf("evidence lists %d images, want 2", len(ev.Claims.Images))
	}
	noProblems(t, svc)
}

// TestInitLearnsRuntimeKeys: init stores the service's runtime keys; with the service out of
// reach it fails, unless --runtime-keys gives them.
func TestInitLearnsRuntimeKeys(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	dir, _ := initDevice(t, svc)
	b, err := os.ReadFile(filepath.Join(dir, state.FileRuntimeKeys))
	if err != nil || !strings.Contains(string(b), strings.TrimSpace(servicetest.PublicKeyPEM(&svc.RuntimeKey.PublicKey))) {
		t.Errorf("runtime-keys.pem: %s, %v", b, err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, svc.CAPEM, 0o644)
	offline := filepath.Join(t.TempDir(), "device")
	r := run(t, "init", "--state", offline, "--server", "https://127.0.0.1:1", "--cacert", ca)
	if r.code != 1 {
		t.Errorf("init with the service out of reach: exit %d", r.code)
	}
	oneErrorLine(t, r, "give --runtime-keys FILE")
	if _, err := os.Stat(filepath.Join(offline, state.FileUDS)); err == nil {
		t.Error("a failed init left a device behind")
	}

	keys := filepath.Join(t.TempDir(), "keys.pem")
	os.WriteFile(keys, []byte(servicetest.PublicKeyPEM(&svc.RuntimeKey.PublicKey)), 0o644)
	must(t, "init", "--state", offline, "--server", "https://127.0.0.1:1", "--cacert", ca, "--runtime-keys", keys)

	os.WriteFile(keys, svc.CAPEM, 0o644)
	r = run(t, "init", "--state", filepath.Join(t.TempDir(), "device"), "--server", svc.URL, "--cacert", ca, "--runtime-keys", keys)
	if r.code != 1 {
		t.Errorf("init with a certificate as runtime keys: exit %d", r.code)
	}
	oneErrorLine(t, r, "PUBLIC KEY")
}
