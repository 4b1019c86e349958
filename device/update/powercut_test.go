package update_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/update"
)

// The helper process of TestPowerCutDuringInstall reads these.
const (
	envStep  = "RAMPART_TEST_POWERCUT_STEP"
	envState = "RAMPART_TEST_POWERCUT_STATE"
	envURL   = "RAMPART_TEST_POWERCUT_URL"
	envFiles = "RAMPART_TEST_POWERCUT_TLS" // folder with ca.pem, cert.pem, key.pem
)

// TestPowerCutHelper is not a test: it is the process that TestPowerCutDuringInstall starts
// and kills with SIGKILL — no deferred cleanup, no flush — when its update cycle reaches a step.
func TestPowerCutHelper(t *testing.T) {
	step := os.Getenv(envStep)
	if step == "" {
		t.Skip("the helper process of TestPowerCutDuringInstall")
	}
	files := os.Getenv(envFiles)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(files, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c := &update.Client{Dir: state.Dir(os.Getenv(envState)), ServiceURL: os.Getenv(envURL), Slot: state.SlotA,
		HTTP: servicetest.Client(t, read("ca.pem"), read("cert.pem"), read("key.pem")),
		Hook: func(s string) {
			if s == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			}
		}}
	c.Cycle(context.Background())
}

// TestPowerCutDuringInstall cuts the power — kills the process with SIGKILL — at every step of
// an app update (a new version of one app, another app removed) and of a runtime install: after
// each, the device must still hold a bootable runtime and complete apps, and the next cycle
// must converge on the deployment.
func TestPowerCutDuringInstall(t *testing.T) {
	t.Parallel()
	appSteps := []string{update.StepDownloaded, update.StepAppUnpacked, update.StepAppInstalled,
		update.StepAppSwitched, update.StepAppCleaned, update.StepAppUninstalled}
	runtimeSteps := []string{update.StepDownloaded, update.StepRuntimeWritten, update.StepRuntimeInstalled,
		update.StepRuntimePending}
	for _, tc := range []struct {
		kind  string
		steps []string
	}{{"app", appSteps}, {"runtime", runtimeSteps}} {
		for _, step := range tc.steps {
			t.Run(tc.kind+"/"+step, func(t *testing.T) {
				t.Parallel()
				powerCut(t, tc.kind, step)
			})
		}
	}
}

func powerCut(t *testing.T, kind, step string) {
	d := newDevice(t)
	v1 := servicetest.App(t, "", "Toaster", "1.0.0", wasm("v1"), d.svc.ImageKey)
	gone := servicetest.App(t, "", "Gone", "1.0.0", wasm("gone"), d.svc.ImageKey)
	d.group(v1, gone)
	d.mustCycle(t)

	v2 := servicetest.App(t, v1.Custom.ComponentID, "Toaster", "2.0.0", wasm("v2"), d.svc.ImageKey)
	rt := servicetest.Runtime(t, "2.0.0", []byte("#!/bin/sh\nexit 0\n# 2.0.0\n"), d.svc.RuntimeKey)
	packages := map[[32]byte]bool{}
	for _, p := range []servicetest.Target{v1, gone, v2} {
		packages[sha256.Sum256(p.Package)] = true
	}
	if kind == "app" {
		d.group(v2)
	} else {
		d.feed(rt)
	}

	files := t.TempDir()
	for name, b := range map[string][]byte{"ca.pem": d.svc.CAPEM, "cert.pem": d.certPEM, "key.pem": d.keyPEM} {
		os.WriteFile(filepath.Join(files, name), b, 0o600)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPowerCutHelper$")
	cmd.Env = append(os.Environ(), envStep+"="+step, envState+"="+string(d.dir), envURL+"="+d.svc.URL, envFiles+"="+files)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper did not reach step %s and die there: %v\n%s", step, err, out)
	}

	// After the cut: a bootable runtime, and every installed app a complete package.
	bc, err := d.dir.ReadBoot()
	if err != nil {
		t.Fatalf("boot.json after the cut: %v", err)
	}
	s, err := boot.MeasureSlot(d.dir, nil, bc.Active)
	if err != nil || bc.Active != state.SlotA {
		t.Fatalf("stage 0 would not boot slot %s after the cut: %v", bc.Active, err)
	}
	s.Discard()
	if bc.Pending != "" {
		if s, err := boot.MeasureSlot(d.dir, nil, bc.Pending); err != nil {
			t.Errorf("the pending slot does not verify (stage 0 would roll it back, but it should not be pending): %v", err)
		} else {
			s.Discard()
		}
	}
	apps, err := update.Apps(d.dir, true)
	if err != nil {
		t.Fatalf("installed apps after the cut: %v", err)
	}
	for _, a := range apps {
		if !packages[a.Package] {
			t.Errorf("app %s is installed as something that is not its package", a.Image.Name)
		}
	}
	if comp := v1.Custom.ComponentID; !hasApp(apps, v1.Custom.ImageID) && !hasApp(apps, v2.Custom.ImageID) {
		t.Errorf("after the cut, app %s is installed in neither version", comp)
	}

	// The next cycle converges.
	res := d.mustCycle(t)
	switch kind {
	case "app":
		if got := d.apps(t); len(got) != 1 || got[v2.Custom.ComponentID] != v2.Custom.ImageID {
			t.Errorf("after the next cycle: %v, want only v2", got)
		}
		entries, _ := os.ReadDir(d.dir.Path(state.DirApps, v1.Custom.ComponentID))
		if len(entries) != 2 {
			t.Errorf("the app's folder holds %d entries, want current and v2's folder", len(entries))
		}
	case "runtime":
		bc, _ := d.dir.ReadBoot()
		if bc.Pending != state.SlotB || !res.Restart {
			t.Errorf("after the next cycle: boot.json %+v, restart %v; want slot b pending", bc, res.Restart)
		}
		s, err := boot.MeasureSlot(d.dir, nil, state.SlotB)
		if err != nil {
			t.Fatalf("slot b: %v", err)
		}
		s.Discard()
	}
	if got := d.downloads(t); len(got) != 0 {
		t.Errorf("downloads/ keeps %v", got)
	}
}

func hasApp(apps []update.App, image string) bool {
	for _, a := range apps {
		if a.Image.ImageID == image {
			return true
		}
	}
	return false
}
