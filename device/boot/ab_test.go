package boot_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// The runtimes of these tests: each leaves a mark of having run in the state folder ($3).
const (
	factoryRT = "#!/bin/sh\ntouch \"$3/ran-a\"\n"
	updateRT  = "#!/bin/sh\ntouch \"$3/ran-b\"\n"
	failingRT = "#!/bin/sh\ntouch \"$3/ran-b\"\nexit 3\n"
)

// signedDevice is a device made with runtime keys, and the private key of the first.
func signedDevice(t *testing.T) (state.Dir, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	keys := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: "https://rampart.test:8443", ServiceCA: testCA(t),
		Runtime: strings.NewReader(factoryRT), RuntimeKeys: keys}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return d, k
}

// runtimePackage is a package of payload, of type typ, signed by signer.
func runtimePackage(t *testing.T, typ string, payload []byte, signer *ecdsa.PrivateKey) []byte {
	t.Helper()
	comp := ident.NewID()
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: ident.NewID(), ComponentID: comp, Name: "runtime",
		Version: "2.0.0", Type: typ, PayloadSize: int64(len(payload)), PayloadSHA256: ident.SHA256(payload)}
	if typ == imagepkg.TypeApplication {
		m.App = &manifest.App{SchemaVersion: 1, ComponentId: comp, Name: "runtime", EntryPoint: "app.wasm"}
	}
	var b bytes.Buffer
	if err := imagepkg.Write(&b, m, bytes.NewReader(payload), signer); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// install puts a package's payload and header into slot, as the update client does.
func install(t *testing.T, d state.Dir, slot state.Slot, pkg []byte, payloadSize int) {
	t.Helper()
	os.MkdirAll(d.Path(state.DirSlots, string(slot)), 0o700)
	hdr, payload := pkg[:len(pkg)-payloadSize], pkg[len(pkg)-payloadSize:]
	if err := os.WriteFile(d.Runtime(slot), payload, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Package(slot), hdr, 0o600); err != nil {
		t.Fatal(err)
	}
}

func setBoot(t *testing.T, d state.Dir, edit func(*state.Boot)) {
	t.Helper()
	bc, err := d.ReadBoot()
	if err != nil {
		t.Fatal(err)
	}
	edit(&bc)
	if err := d.WriteBoot(bc); err != nil {
		t.Fatal(err)
	}
}

func ran(d state.Dir, slot state.Slot) bool {
	_, err := os.Stat(d.Path("ran-" + string(slot)))
	return err == nil
}

func TestSignedRuntimeBootsWithSignerAuthority(t *testing.T) {
	t.Parallel()
	d, key := signedDevice(t)
	install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(updateRT), key), len(updateRT))
	setBoot(t, d, func(b *state.Boot) { b.Active = state.SlotB })
	s, err := boot.Measure(d, nil)
	if err != nil {
		t.Fatalf("stage 0 refuses a runtime signed by a runtime key: %v", err)
	}
	defer s.Discard()
	if s.Slot != state.SlotB || s.Measurements.Authority != boot.SignerAuthority(&key.PublicKey) ||
		s.Measurements.Authority == boot.FactoryAuthority {
		t.Errorf("slot %s, authority %x…: want slot b and the signer's authority", s.Slot, s.Measurements.Authority[:8])
	}
	// The factory image in slot A still boots as such.
	a, err := boot.MeasureSlot(d, nil, state.SlotA)
	if err != nil || a.Measurements.Authority != boot.FactoryAuthority {
		t.Errorf("slot a: %v", err)
	}
	a.Discard()
}

func TestStage0RefusesUnsignedRuntimeInSlotB(t *testing.T) {
	t.Parallel()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, d state.Dir, key *ecdsa.PrivateKey)
		want  string
	}{
		{"no package header", func(t *testing.T, d state.Dir, _ *ecdsa.PrivateKey) {
			os.WriteFile(d.Runtime(state.SlotB), []byte(updateRT), 0o700)
		}, "no factory image and no package header"},
		{"signed by another key", func(t *testing.T, d state.Dir, _ *ecdsa.PrivateKey) {
			install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(updateRT), other), len(updateRT))
		}, "not signed by a runtime key"},
		{"runtime changed after install", func(t *testing.T, d state.Dir, key *ecdsa.PrivateKey) {
			install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(updateRT), key), len(updateRT))
			os.WriteFile(d.Runtime(state.SlotB), []byte(strings.Replace(updateRT, "touch", "rm -rf", 1)), 0o700)
		}, "is not the payload its signed manifest names"},
		{"an app package signed by the runtime key", func(t *testing.T, d state.Dir, key *ecdsa.PrivateKey) {
			install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeApplication, []byte(updateRT), key), len(updateRT))
		}, "not a runtime"},
		{"header tampered with", func(t *testing.T, d state.Dir, key *ecdsa.PrivateKey) {
			install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(updateRT), key), len(updateRT))
			hdr, _ := os.ReadFile(d.Package(state.SlotB))
			i := bytes.Index(hdr, []byte(`"2.0.0"`))
			hdr[i+1] = '9' // version 9.0.0: the signature no longer covers the manifest
			os.WriteFile(d.Package(state.SlotB), hdr, 0o600)
		}, "not signed by a runtime key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Active: refused with an alarm, never started.
			d, key := signedDevice(t)
			tc.setup(t, d, key)
			setBoot(t, d, func(b *state.Boot) { b.Active = state.SlotB })
			code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr)
			if !errors.Is(err, boot.ErrUntrustedRuntime) || code == 0 {
				t.Fatalf("boot of slot b: exit %d, %v; want ErrUntrustedRuntime", code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if ran(d, state.SlotB) {
				t.Error("stage 0 started the runtime")
			}
			if !queuedEvent(t, d, api.EventBootFailure, tc.want) {
				t.Errorf("no BootFailure event says %q", tc.want)
			}

			// Pending: refused, rolled back, and the old slot boots.
			d, key = signedDevice(t)
			tc.setup(t, d, key)
			setBoot(t, d, func(b *state.Boot) { b.Pending = state.SlotB })
			var stderr bytes.Buffer
			if code, err := boot.Run(d, nil, nil, os.Stdout, &stderr); err != nil || code != 0 {
				t.Fatalf("boot with slot b pending: exit %d, %v", code, err)
			}
			if ran(d, state.SlotB) || !ran(d, state.SlotA) {
				t.Errorf("ran b: %v, ran a: %v; want only a", ran(d, state.SlotB), ran(d, state.SlotA))
			}
			checkRolledBack(t, d, tc.want)
		})
	}
}

func checkRolledBack(t *testing.T, d state.Dir, reason string) {
	t.Helper()
	bc, _ := d.ReadBoot()
	if bc.Active != state.SlotA || bc.Pending != "" || bc.Tries != 0 {
		t.Errorf("boot.json %+v after a rollback", bc)
	}
	st, _ := d.ReadStatus()
	if st.Update == nil || st.Update.Result != api.UpdateRolledBack || st.Update.Reported || !strings.Contains(st.Update.Message, reason) {
		t.Errorf("status update record %+v, want rolled_back, unreported, saying %q", st.Update, reason)
	}
	if st.RolledBack == nil || st.RolledBack.Slot != state.SlotB {
		t.Errorf("status rollback record %+v", st.RolledBack)
	}
	if !queuedEvent(t, d, api.EventSlotRollback, reason) {
		t.Errorf("no SlotRollback event says %q", reason)
	}
}

// queuedEvent reports whether an event of category whose description holds want is queued
// for upload.
func queuedEvent(t *testing.T, d state.Dir, category, want string) bool {
	t.Helper()
	es, _, err := events.Open(d).Events()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Category == category && e.Class == api.ClassOS && strings.Contains(e.Description, want) {
			return true
		}
	}
	return false
}

// TestTrialThatDoesNotCommitRollsBack tries runtimes that exit without committing, whatever
// their exit code: stage 0 boots the old slot after each, once.
func TestTrialThatDoesNotCommitRollsBack(t *testing.T) {
	t.Parallel()
	for _, rt := range []string{failingRT, updateRT} {
		d, key := signedDevice(t)
		pkg := runtimePackage(t, imagepkg.TypeRuntime, []byte(rt), key)
		install(t, d, state.SlotB, pkg, len(rt))
		setBoot(t, d, func(b *state.Boot) { b.Pending = state.SlotB })
		var stderr bytes.Buffer
		if code, err := boot.Run(d, nil, nil, os.Stdout, &stderr); err != nil || code != 0 {
			t.Fatalf("exit %d, %v; want the old slot's 0", code, err)
		}
		if !ran(d, state.SlotB) || !ran(d, state.SlotA) {
			t.Errorf("ran b: %v, ran a: %v; want both", ran(d, state.SlotB), ran(d, state.SlotA))
		}
		checkRolledBack(t, d, "before it committed")
		if !strings.Contains(stderr.String(), "rolling back to slot a") {
			t.Errorf("stderr %q", stderr.String())
		}
		st, _ := d.ReadStatus()
		h, _ := boot.ReadSlotHeader(d, state.SlotB)
		if st.RolledBack.ImageID != h.Manifest.ImageID || st.RolledBack.Retry {
			t.Errorf("rollback record %+v: want image %s, no retry", st.RolledBack, h.Manifest.ImageID)
		}
	}
}

// TestPowerCutDuringTrial: boot.json says a trial was started (tries 1) but it never committed;
// the next boot rolls it back before anything else, and allows one more try of that image.
func TestPowerCutDuringTrial(t *testing.T) {
	t.Parallel()
	d, key := signedDevice(t)
	install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(updateRT), key), len(updateRT))
	setBoot(t, d, func(b *state.Boot) { b.Pending, b.Tries = state.SlotB, 1 })
	var stderr bytes.Buffer
	if code, err := boot.Run(d, nil, nil, os.Stdout, &stderr); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if ran(d, state.SlotB) || !ran(d, state.SlotA) {
		t.Errorf("ran b: %v, ran a: %v; want only a", ran(d, state.SlotB), ran(d, state.SlotA))
	}
	checkRolledBack(t, d, "never committed")
	st, _ := d.ReadStatus()
	if !st.RolledBack.Retry {
		t.Error("an interrupted trial is not retried")
	}

	// Interrupted again: no more tries.
	setBoot(t, d, func(b *state.Boot) { b.Pending, b.Tries = state.SlotB, 1 })
	if code, err := boot.Run(d, nil, nil, os.Stdout, &stderr); err != nil || code != 0 {
		t.Fatalf("exit %d, %v", code, err)
	}
	if st, _ := d.ReadStatus(); st.RolledBack == nil || st.RolledBack.Retry {
		t.Errorf("a second interrupted trial of the same image: %+v, want no retry", st.RolledBack)
	}
}

// TestTrialCountedBeforeStart: the trial's stage 1 finds tries = 1 in boot.json, so a power cut
// during the trial is seen as one.
func TestTrialCountedBeforeStart(t *testing.T) {
	t.Parallel()
	d, key := signedDevice(t)
	rt := "#!/bin/sh\ncp \"$3/boot.json\" \"$3/boot-during-trial.json\"\n"
	install(t, d, state.SlotB, runtimePackage(t, imagepkg.TypeRuntime, []byte(rt), key), len(rt))
	setBoot(t, d, func(b *state.Boot) { b.Pending = state.SlotB })
	var stderr bytes.Buffer
	boot.Run(d, nil, nil, os.Stdout, &stderr)
	b, err := os.ReadFile(d.Path("boot-during-trial.json"))
	if err != nil {
		t.Fatal(err)
	}
	var during state.Boot
	if err := strictjson.Decode(b, &during); err != nil || during.Pending != state.SlotB || during.Tries != 1 {
		t.Errorf("boot.json during the trial: %s (%v); want slot b pending with tries 1", b, err)
	}
}

// TestRestartExitCodeBootsAgain: stage 1's exit code 75 makes stage 0 boot again, a bounded
// number of times.
func TestRestartExitCodeBootsAgain(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "#!/bin/sh\necho x >> \"$3/boots\"\nexit 75\n")
	code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr)
	if err == nil || code == 0 {
		t.Fatalf("a runtime that always asks to restart: exit %d, %v; want an error", code, err)
	}
	b, _ := os.ReadFile(d.Path("boots"))
	if n := strings.Count(string(b), "x"); n < 2 || n > 10 {
		t.Errorf("%d boots, want a few and a bound", n)
	}
}
