package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha512"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.Main(m)) }

// newTPMDevice is newDevice with the TPM root of trust, on the simulator sim.
func newTPMDevice(t *testing.T, svc *servicetest.Service, sim *swtpmtest.Sim) *device {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: svc.URL, ServiceCA: svc.CAPEM,
		Runtime: strings.NewReader(dumpHandoff), TPM: &boot.TPMConfig{Path: sim.Path}}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("boot: exit %d, %v", code, err)
	}
	raw, err := os.ReadFile(d.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(d.Path("handoff.out"))
	return &device{dir: d, raw: raw}
}

// A TPM device attests with the TPM claim (verified by the stand-in with format/evidence),
// receives a certificate for its TPM signing key, and checks in over mutual TLS signing in the
// TPM.
func TestTPMAttestThenCheckIn(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newTPMDevice(t, svc, swtpmtest.New(t))
	a := d.agent(t, Options{})
	defer a.Close()
	if a.id.Root != state.RootTPM {
		t.Fatalf("root %q", a.id.Root)
	}
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	noProblems(t, svc)
	svc.Lock()
	if svc.Attests != 1 || len(svc.Checkins) != 1 {
		t.Errorf("%d attestations, %d check-ins; want 1 and 1", svc.Attests, len(svc.Checkins))
	}
	ev := svc.Evidence[0]
	svc.Unlock()
	if ev.Claims.TPM == nil || ev.AliasCert != nil || ev.DeviceID != a.id.DeviceID || ev.Claims.Measurements != a.id.Measurements {
		t.Fatal("the evidence is not a TPM device's")
	}
	if ev.Claims.TPM.PCR != 15 || len(ev.Claims.TPM.EventLog) == 0 {
		t.Fatalf("TPM claim of PCR %d", ev.Claims.TPM.PCR)
	}
	pemChain, err := d.dir.ReadCert()
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.id.ParseCertificate(pemChain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(a.id.tpm.key.Public()) {
		t.Fatal("the certificate is not for the TPM signing key")
	}
}

// TestStateFolderHoldsNoKeyMaterial: after init and a run, the state folder of a TPM device
// holds no private key and no seed: no UDS, no PEM private key, no binary file of a secret's size, and
// tpm.json only TPM-wrapped blobs (TestCopiedStateFolderCannotAttest shows they are useless
// elsewhere).
func TestStateFolderHoldsNoKeyMaterial(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newTPMDevice(t, svc, swtpmtest.New(t))
	a := d.agent(t, Options{})
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	a.Close()
	n := 0
	err := filepath.WalkDir(string(d.dir), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		name := e.Name()
		if name == state.FileUDS || strings.HasPrefix(name, state.FileUDS+".") {
			t.Errorf("%s: a UDS in a TPM device's folder", path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s holds a PEM private key", path)
		}
		if (len(b) == 32 || len(b) == 64) && !utf8.Valid(b) {
			t.Errorf("%s is %d binary bytes, the size of a seed", path, len(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("scanned only %d files", n)
	}
}

// TestCopiedStateFolderCannotAttest: a TPM device's state folder copied to a machine with
// another TPM gives nothing that can act as the device: stage 0 cannot load its attestation key,
// so it refuses to boot, and a stage 1 handed the original device's handoff cannot either.
func TestCopiedStateFolderCannotAttest(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newTPMDevice(t, svc, swtpmtest.New(t))

	other := swtpmtest.Start(t, swtpmtest.B)
	copied := state.Dir(filepath.Join(t.TempDir(), "copy"))
	if err := os.CopyFS(string(copied), os.DirFS(string(d.dir))); err != nil {
		t.Fatal(err)
	}
	os.Chmod(string(copied), 0o700)
	cfg, err := copied.ReadTPM()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Path = other.Path // the copy's machine has its own TPM
	if err := copied.WriteTPM(state.FileTPM, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.Measure(copied, nil); err == nil || !strings.Contains(err.Error(), "another TPM") {
		t.Fatalf("stage 0 booted a copied folder on another TPM: %v", err)
	}
	if _, err := New(copied, d.handoff(t), Options{Once: true}); err == nil || !strings.Contains(err.Error(), "another TPM") {
		t.Fatalf("stage 1 started from a copied folder on another TPM: %v", err)
	}
	if _, err := boot.ClaimCode(copied); err == nil {
		t.Fatal("the claim code computed from a copied folder on another TPM")
	}
	svc.Lock()
	defer svc.Unlock()
	if svc.Attests != 0 {
		t.Fatal("a copied folder attested")
	}
}

// bootSlot runs stage 0's measurement of slot and a stage 1 that dumps its handoff, and returns
// the device as stage 1 sees it.
func bootSlot(t *testing.T, d *device, slot state.Slot) *device {
	t.Helper()
	s, err := boot.MeasureSlot(d.dir, nil, slot)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Start(nil, os.Stdout, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("stage 1: exit %d, %v", code, err)
	}
	raw, err := os.ReadFile(d.dir.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(d.dir.Path("handoff.out"))
	return &device{dir: d.dir, raw: raw}
}

func storageKey(t *testing.T, d *device) []byte {
	t.Helper()
	a := d.agent(t, Options{})
	defer a.Close()
	k := a.id.StorageKey()
	if len(k) != StorageKeySize {
		t.Fatalf("storage key of %d bytes", len(k))
	}
	return k
}

// installPinned puts runtime in slot, pinned as a factory image so that stage 0 boots it.
func installPinned(t *testing.T, d *device, slot state.Slot, runtime string, pending bool) {
	t.Helper()
	if err := os.WriteFile(d.dir.Runtime(slot), []byte(runtime), 0o700); err != nil {
		t.Fatal(err)
	}
	bc, err := d.dir.ReadBoot()
	if err != nil {
		t.Fatal(err)
	}
	bc.Factory[slot] = sha512.Sum512([]byte(runtime))
	if pending {
		bc.Pending = slot
	}
	if err := d.dir.WriteBoot(bc); err != nil {
		t.Fatal(err)
	}
}

// TestChangedRuntimeCannotUnseal: the storage key is sealed to the measured runtime. A restart
// of the same runtime unseals it; a runtime it was handed over to (an update) unseals it, and
// so does the old runtime after a rollback; a runtime it was not handed over to gets another.
func TestChangedRuntimeCannotUnseal(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newTPMDevice(t, svc, swtpmtest.New(t))
	k1 := storageKey(t, d)
	if !bytes.Equal(storageKey(t, bootSlot(t, d, state.SlotA)), k1) {
		t.Fatal("a restart of the same runtime lost its storage key")
	}

	// An update: slot B on trial, the key handed over before the restart.
	installPinned(t, d, state.SlotB, dumpHandoff+"# two\n", true)
	a := d.agent(t, Options{})
	if err := a.handOver(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if !bytes.Equal(storageKey(t, bootSlot(t, d, state.SlotB)), k1) {
		t.Fatal("the updated runtime cannot unseal the key handed over to it")
	}
	// It rolls back: the old runtime, measured again after it, still has its key.
	if !bytes.Equal(storageKey(t, bootSlot(t, d, state.SlotA)), k1) {
		t.Fatal("the old runtime lost its key after a rollback")
	}

	// A runtime the key was not handed over to.
	installPinned(t, d, state.SlotB, dumpHandoff+"# three\n", false)
	if bytes.Equal(storageKey(t, bootSlot(t, d, state.SlotB)), k1) {
		t.Fatal("a runtime that was not handed the key unsealed it")
	}
}

// A stage 1 that was killed leaves its signing key loaded in a TPM without a resource manager;
// the next start unloads it rather than running out of object slots.
func TestKilledStage1DoesNotFillTheTPM(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newTPMDevice(t, svc, swtpmtest.New(t))
	for range 5 {
		if _, err := New(d.dir, d.handoff(t), Options{Once: true}); err != nil { // never closed
			t.Fatal(err)
		}
	}
}

// TestTPMResetMidBootCannotAttest: a TPM reset after stage 0 measured the runtime (a reboot
// under a running stage 1, or an attacker's reset to erase measurements) leaves stage 1 unable
// to attest: its signing key's policy no longer holds and the PCR no longer replays the log.
// Stage 0's next boot starts a new log, and that boot attests.
func TestTPMResetMidBootCannotAttest(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	sim := swtpmtest.New(t)
	d := newTPMDevice(t, svc, sim)
	a := d.agent(t, Options{})
	sim.Reset(t)
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "PCR") {
		t.Fatalf("stage 1 after a TPM reset: %v", err)
	}
	a.Close()
	if _, err := New(d.dir, d.handoff(t), Options{Once: true}); err == nil || !strings.Contains(err.Error(), "was the TPM reset") {
		t.Fatalf("stage 1 started on a reset TPM: %v", err)
	}
	svc.Lock()
	if svc.Attests != 0 {
		t.Errorf("%d attestations reached the service", svc.Attests)
	}
	svc.Unlock()
	a = bootSlot(t, d, state.SlotA).agent(t, Options{})
	defer a.Close()
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("after a new boot: %v", err)
	}
}
