package state

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cert.pem")
	if err := WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q, want new", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}

	// A write that fails half-way leaves the old file, and no temporary file.
	_, err := WriteFileFrom(path, strings.NewReader("far too long"), 4, 0o600)
	if err == nil {
		t.Fatal("a write over its limit succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("a failed write left %q, want the old content", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only cert.pem", len(entries))
	}
}

func TestReadFileRefusesLargeFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, bytes.Repeat([]byte("x"), 11), 0o600)
	if _, err := ReadFile(path, 10); err == nil {
		t.Error("ReadFile read a file over its limit")
	}
	if b, err := ReadFile(path, 11); err != nil || len(b) != 11 {
		t.Errorf("ReadFile at the limit: %d bytes, %v", len(b), err)
	}
}

func TestDecodeJSONIsStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in string }{
		{"unknown field", `{"active_slot":"a","factory_sha512":{},"extra":1}`},
		{"trailing data", `{"active_slot":"a","factory_sha512":{}} {}`},
		{"bad digest", `{"active_slot":"a","factory_sha512":{"a":"ABCD"}}`},
		{"not JSON", `active_slot: a`},
	} {
		var b Boot
		if err := strictjson.Decode([]byte(tc.in), &b); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	var b Boot
	if err := strictjson.Decode([]byte(`{"active_slot":"a","factory_sha512":{}}`+"\n"), &b); err != nil {
		t.Errorf("a good boot.json: %v", err)
	}
}

func TestStateFilesRoundTrip(t *testing.T) {
	t.Parallel()
	d := Dir(t.TempDir())
	dev := Device{ServiceURL: "https://rampart.test:8443", DeviceID: testDeviceID, ServiceCA: FileServiceCA}
	if err := d.WriteDevice(dev); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadDevice(); err != nil || got != dev {
		t.Errorf("device.json: %+v, %v", got, err)
	}
	bc := Boot{Active: SlotA, Factory: map[Slot]Digest512{SlotA: sha512.Sum512([]byte("rt"))}}
	if err := d.WriteBoot(bc); err != nil {
		t.Fatal(err)
	}
	if got, err := d.ReadBoot(); err != nil || got.Factory[SlotA] != bc.Factory[SlotA] {
		t.Errorf("boot.json: %+v, %v", got, err)
	}
	if s, err := d.ReadStatus(); err != nil || s.Boot != nil || s.Attestation != nil {
		t.Errorf("missing status.json: %+v, %v; want an empty status", s, err)
	}
	if _, err := d.ReadCert(); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("missing cert.pem: %v, want ErrNoCertificate", err)
	}
}

var testDeviceID = ident.DeviceID(strings.Repeat("ab", 32))

func TestConfigMeasurementCoversServiceAndCA(t *testing.T) {
	t.Parallel()
	base := Device{ServiceURL: "https://a.test", DeviceID: testDeviceID, ServiceCA: FileServiceCA}
	other := base
	other.ServiceURL = "https://b.test"
	otherCA := base
	otherCA.ServiceCASHA256[0] = 1
	if base.ConfigMeasurement() == other.ConfigMeasurement() || base.ConfigMeasurement() == otherCA.ConfigMeasurement() {
		t.Error("another service or CA gives the same configuration measurement")
	}
	if base.ConfigMeasurement() != sha512.Sum512(base.Canonical()) {
		t.Error("the configuration measurement is not the SHA-512 of the canonical bytes")
	}
}

func TestDeviceCheck(t *testing.T) {
	t.Parallel()
	good := Device{ServiceURL: "https://a.test:8443", DeviceID: testDeviceID, ServiceCA: FileServiceCA}
	for _, tc := range []struct {
		name string
		edit func(*Device)
	}{
		{"http", func(d *Device) { d.ServiceURL = "http://a.test" }},
		{"path", func(d *Device) { d.ServiceURL = "https://a.test/api" }},
		{"no host", func(d *Device) { d.ServiceURL = "https://" }},
		{"bad device ID", func(d *Device) { d.DeviceID = "ABC" }},
		{"CA outside the folder", func(d *Device) { d.ServiceCA = "../../etc/ca.pem" }},
		{"hidden CA", func(d *Device) { d.ServiceCA = ".ca.pem" }},
	} {
		d := good
		tc.edit(&d)
		if err := d.Check(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := good.Check(); err != nil {
		t.Error(err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	if _, err := Open(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNotInitialised) {
		t.Errorf("Open of a missing folder: %v, want ErrNotInitialised", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileDevice), []byte("{}"), 0o600)
	os.Chmod(dir, 0o777)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Open of a world-writable folder: %v, want a refusal", err)
	}
	os.Chmod(dir, 0o700)
	if _, err := Open(dir); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

func TestMeasurementsModeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"normal", "debug", "recovery", "not-configured"} {
		m, err := Measurements{Mode: mode}.Dice()
		if err != nil || FromDice(m).Mode != mode {
			t.Errorf("mode %s: %v, %v", mode, m.Mode, err)
		}
	}
	if _, err := (Measurements{Mode: "mode(9)"}).Dice(); err == nil {
		t.Error("an unknown mode was accepted")
	}
}

// FuzzParseRuntimeKeys: runtime-keys.pem comes from the service at init; whatever it holds,
// the parser returns keys or an error, never both nor neither.
func FuzzParseRuntimeKeys(f *testing.F) {
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("not pem"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseRuntimeKeys(b)
		if (err == nil) == (len(keys) == 0) {
			t.Errorf("ParseRuntimeKeys returned %d keys and error %v", len(keys), err)
		}
	})
}

// TestDuplicateKeyDifferingInCaseRefused: encoding/json would read "Pending" into the field
// pending, so a boot.json with both could put one slot on trial for one reader and another for
// the next.
func TestDuplicateKeyDifferingInCaseRefused(t *testing.T) {
	t.Parallel()
	d := Dir(t.TempDir())
	in := `{"active_slot":"a","factory_sha512":{},"pending":"b","Pending":"a","tries":0}`
	if err := WriteFile(d.Path(FileBoot), []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadBoot(); err == nil || !strings.Contains(err.Error(), "differ only in case") {
		t.Fatalf("ReadBoot = %+v, %v", b, err)
	}
}
