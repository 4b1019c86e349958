package boot_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.Main(m)) }

// newTPMDevice initialises a TPM device on a fresh simulator with runtime as its factory image.
func newTPMDevice(t *testing.T, runtime string) (state.Dir, *swtpmtest.Sim) {
	t.Helper()
	sim := swtpmtest.New(t)
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: "https://rampart.test:8443", ServiceCA: testCA(t),
		Runtime: strings.NewReader(runtime), TPM: &boot.TPMConfig{Path: sim.Path}}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return d, sim
}

func readLog(t *testing.T, d state.Dir) *tpm.Log {
	t.Helper()
	b, err := os.ReadFile(d.Path(state.FileEventLog))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tpm.ParseLog(b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pcr(t *testing.T, sim *swtpmtest.Sim, n int) [32]byte {
	t.Helper()
	tp, err := tpm.Open(sim.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	v, err := tp.ReadPCR(n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Stage 0 of a TPM device measures the runtime into PCR 15 and its log, hands stage 1 no
// secret, and measures a restart of the same runtime only once.
func TestTPMBootMeasuresIntoPCR(t *testing.T) {
	t.Parallel()
	d, sim := newTPMDevice(t, "runtime one")
	if d.Root() != state.RootTPM {
		t.Fatal("the device's root is not the TPM")
	}
	if _, err := os.Stat(d.Path(state.FileUDS)); err == nil {
		t.Fatal("a TPM device has a UDS")
	}
	id, err := boot.DeviceID(d)
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := d.ReadDevice()
	if id != dev.DeviceID {
		t.Fatalf("device ID %s, device.json says %s", id, dev.DeviceID)
	}
	s, err := boot.Measure(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := readLog(t, d)
	if len(l.Events) != 1 || l.PCR != 15 || pcr(t, sim, 15) != l.Replay() {
		t.Fatalf("after one boot: %d events of PCR %d", len(l.Events), l.PCR)
	}
	if m, _ := l.Last(); m != s.Measurements {
		t.Fatal("the log's event is not the runtime's measurements")
	}
	if s.AliasCert != nil {
		t.Fatal("a TPM boot made an Alias certificate")
	}
	s.Discard()

	// A restart of the same runtime: not measured again.
	if _, err := boot.Measure(d, nil); err != nil {
		t.Fatal(err)
	}
	if l := readLog(t, d); len(l.Events) != 1 || pcr(t, sim, 15) != l.Replay() {
		t.Fatalf("a restart of the same runtime extended the PCR: %d events", len(l.Events))
	}

	// Another runtime (an update): appended.
	if err := os.WriteFile(d.Runtime(state.SlotA), []byte("runtime two"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.MeasureSlot(d, acceptAny{}, state.SlotA); err != nil {
		t.Fatal(err)
	}
	if l := readLog(t, d); len(l.Events) != 2 || pcr(t, sim, 15) != l.Replay() {
		t.Fatalf("a second runtime: %d events", len(l.Events))
	}
}

// The handoff of a TPM device carries the AK's public key, the measurements and the root, and
// no CDI or certificate.
func TestTPMHandoff(t *testing.T) {
	t.Parallel()
	d, _ := newTPMDevice(t, dumpHandoff)
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("run: %d, %v", code, err)
	}
	f, err := os.Open(d.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := handoff.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if h.Root != state.RootTPM || h.CDIAttest != nil || h.CDISeal != nil || h.AliasCert != nil {
		t.Fatalf("handoff: root %q, CDIs or certificate present", h.Root)
	}
}

// TestForeignPCRRefusesBoot: a PCR that holds measurements not in Rampart's log (another
// program's, or a log that was replaced) stops the boot.
func TestForeignPCRRefusesBoot(t *testing.T) {
	t.Parallel()
	d, sim := newTPMDevice(t, "runtime")
	tp, err := tpm.Open(sim.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	if err := tp.ExtendPCR(15, [32]byte{1}); err != nil {
		t.Fatal(err)
	}
	_, err = boot.Measure(d, nil)
	if !errors.Is(err, boot.ErrForeignPCR) || !errors.Is(err, boot.ErrAlarm) ||
		!strings.Contains(err.Error(), "PCR 15 holds measurements Rampart did not make") {
		t.Fatalf("boot on a foreign PCR: %v", err)
	}
}

// TestTPMResetMidBootStartsNewLog: a reset of the TPM (a reboot) clears the PCR; stage 0 then
// starts a new log rather than appending to one the PCR no longer holds.
func TestTPMResetMidBootStartsNewLog(t *testing.T) {
	t.Parallel()
	d, sim := newTPMDevice(t, "runtime")
	if _, err := boot.Measure(d, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Runtime(state.SlotA), []byte("runtime two"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.MeasureSlot(d, acceptAny{}, state.SlotA); err != nil {
		t.Fatal(err)
	}
	sim.Reset(t)
	if _, err := boot.MeasureSlot(d, acceptAny{}, state.SlotA); err != nil {
		t.Fatal(err)
	}
	if l := readLog(t, d); len(l.Events) != 1 || pcr(t, sim, 15) != l.Replay() {
		t.Fatalf("after a reset: %d events", len(l.Events))
	}
}

// A stage 0 that stopped between extending the PCR and renaming the new log picks the new log
// up at the next boot.
func TestInterruptedMeasurementRecovers(t *testing.T) {
	t.Parallel()
	d, sim := newTPMDevice(t, "runtime")
	if _, err := boot.Measure(d, nil); err != nil {
		t.Fatal(err)
	}
	// As if stopped after the extend: the new log is written, the old one still in place.
	old, _ := os.ReadFile(d.Path(state.FileEventLog))
	if err := os.WriteFile(d.Runtime(state.SlotA), []byte("runtime two"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.MeasureSlot(d, acceptAny{}, state.SlotA); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(d.Path(state.FileEventLog), d.Path(state.FileEventLogNew)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path(state.FileEventLog), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.MeasureSlot(d, acceptAny{}, state.SlotA); err != nil {
		t.Fatal(err)
	}
	if l := readLog(t, d); len(l.Events) != 2 || pcr(t, sim, 15) != l.Replay() {
		t.Fatalf("after recovery: %d events", len(l.Events))
	}
}

func TestInitRefusesPCR(t *testing.T) {
	t.Parallel()
	sim := swtpmtest.New(t)
	for _, n := range []int{7, 16, 23, 24} {
		_, err := boot.Init(filepath.Join(t.TempDir(), "device"), boot.Factory{ServiceURL: "https://rampart.test:8443",
			ServiceCA: testCA(t), Runtime: strings.NewReader("runtime"), TPM: &boot.TPMConfig{Path: sim.Path, PCR: n}})
		if err == nil || !strings.Contains(err.Error(), "8 to 15") {
			t.Errorf("PCR %d: %v", n, err)
		}
	}
	if err := boot.CheckPCR(8); err != nil {
		t.Fatal(err)
	}
}

func TestTPMInitRefusesExistingDevice(t *testing.T) {
	t.Parallel()
	d, sim := newTPMDevice(t, "runtime")
	_, err := boot.Init(string(d), boot.Factory{ServiceURL: "https://rampart.test:8443", ServiceCA: testCA(t),
		Runtime: strings.NewReader("runtime"), TPM: &boot.TPMConfig{Path: sim.Path}})
	if !errors.Is(err, boot.ErrInitialised) {
		t.Fatalf("init over a TPM device: %v", err)
	}
}
