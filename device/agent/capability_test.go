package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"testing"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// reboot has the real stage 0 boot d again, as after stage 1 exited with boot.ExitRestart.
func (d *device) reboot(t *testing.T) {
	t.Helper()
	if code, err := boot.Run(d.dir, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("boot: exit %d, %v", code, err)
	}
	raw, err := os.ReadFile(d.dir.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(d.dir.Path("handoff.out"))
	d.raw = raw
}

func lastMode(t *testing.T, svc *servicetest.Service) dice.Mode {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	return svc.Evidence[len(svc.Evidence)-1].Claims.Measurements.Mode
}

// TestCapabilityChangesTheBootMode: at check-in the agent fetches the development capability;
// once it holds one it restarts, stage 0 boots in Debug mode, and the new Alias key attests
// again, saying Debug; when the service withdraws it (404), the agent deletes it and restarts
// into Normal mode.
func TestCapabilityChangesTheBootMode(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	id := d.agent(t, Options{}).id.DeviceID
	developer := newTestKey(t)
	svc.Lock()
	svc.Capability = svc.DevelopmentCapability(t, id, &developer.PublicKey)
	svc.Unlock()

	if err := d.agent(t, Options{}).Run(context.Background()); !errors.Is(err, ErrModeChanged) {
		t.Fatalf("run that receives the capability: %v, want ErrModeChanged", err)
	}
	if _, err := d.dir.Development(id); err != nil {
		t.Fatalf("the capability was not stored: %v", err)
	}
	if lastMode(t, svc) != dice.ModeNormal {
		t.Error("the first attestation did not say Normal")
	}

	d.reboot(t)
	a := d.agent(t, Options{})
	if a.id.Measurements.Mode != dice.ModeDebug {
		t.Fatalf("stage 0 booted in mode %v with the capability", a.id.Measurements.Mode)
	}
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("run in Debug mode: %v", err)
	}
	if lastMode(t, svc) != dice.ModeDebug {
		t.Error("the new Alias key did not attest, saying Debug")
	}

	svc.Lock()
	svc.Capability = nil
	svc.Unlock()
	if err := d.agent(t, Options{}).Run(context.Background()); !errors.Is(err, ErrModeChanged) {
		t.Fatalf("run that loses the capability: %v, want ErrModeChanged", err)
	}
	if _, err := os.Stat(d.dir.Path(state.FileCapability)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("capability.json after a 404: %v", err)
	}
	d.reboot(t)
	if a := d.agent(t, Options{}); a.id.Measurements.Mode != dice.ModeNormal {
		t.Errorf("stage 0 booted in mode %v without the capability", a.id.Measurements.Mode)
	}
	noProblems(t, svc)
}

func TestCapabilityForAnotherDeviceIgnored(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	other := ident.DeviceIDFromPublicKey([]byte("another device"))
	svc.Lock()
	svc.Capability = svc.DevelopmentCapability(t, other, &newTestKey(t).PublicKey)
	svc.Unlock()
	if err := d.agent(t, Options{}).Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	svc.Lock()
	asked := svc.CapabilityRequests
	svc.Unlock()
	if asked != 1 {
		t.Errorf("the agent asked for the capability %d times, want 1", asked)
	}
	if _, err := os.Stat(d.dir.Path(state.FileCapability)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a capability for another device was stored: %v", err)
	}
	noProblems(t, svc)
}

func newTestKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHeldCapabilityIsNotAskedAgain: when the check-in names the capability the device should
// hold, the device asks for it only when it does not hold that one, and removes a withdrawn one
// without asking: an up-to-date check-in makes no capability request.
func TestHeldCapabilityIsNotAskedAgain(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	id := d.agent(t, Options{}).id.DeviceID
	asked := func() int {
		svc.Lock()
		defer svc.Unlock()
		return svc.CapabilityRequests
	}
	svc.Lock()
	svc.SayCapability = true
	svc.Unlock()
	if err := d.agent(t, Options{}).Run(context.Background()); err != nil {
		t.Fatalf("run without a capability: %v", err)
	}
	if n := asked(); n != 0 {
		t.Errorf("asked %d times for a capability the check-in said there is none of", n)
	}

	svc.Lock()
	svc.Capability = svc.DevelopmentCapability(t, id, &newTestKey(t).PublicKey)
	svc.Unlock()
	if err := d.agent(t, Options{}).Run(context.Background()); !errors.Is(err, ErrModeChanged) {
		t.Fatalf("run that receives the capability: %v, want ErrModeChanged", err)
	}
	if n := asked(); n != 1 {
		t.Errorf("asked %d times for a new capability, want 1", n)
	}
	d.reboot(t)
	if err := d.agent(t, Options{}).Run(context.Background()); err != nil {
		t.Fatalf("run in Debug mode: %v", err)
	}
	if n := asked(); n != 1 {
		t.Errorf("asked again (%d) for the capability the device holds", n)
	}

	svc.Lock()
	svc.Capability = nil
	svc.Unlock()
	if err := d.agent(t, Options{}).Run(context.Background()); !errors.Is(err, ErrModeChanged) {
		t.Fatalf("run that loses the capability: %v, want ErrModeChanged", err)
	}
	if _, err := os.Stat(d.dir.Path(state.FileCapability)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("capability.json after the check-in said none: %v", err)
	}
	if n := asked(); n != 1 {
		t.Errorf("asked (%d) for a capability the check-in said was withdrawn", n)
	}
	noProblems(t, svc)
}
