package state

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"time"

	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// Device is device.json: which service the device speaks to, and who it is.
//
// Its canonical bytes ([Device.Canonical]) are the DICE configuration input of stage 1 (through
// their SHA-512), so pointing a device at another service, or at another CA, changes its CDI
// and Alias key: another service is another configuration.
type Device struct {
	ServiceURL      string         `json:"service_url"`       // https://HOST[:PORT]
	DeviceID        ident.DeviceID `json:"device_id"`         // SHA-256 of the DeviceID key's SPKI
	ServiceCA       string         `json:"service_ca"`        // file name of the CA PEM in the state folder
	ServiceCASHA256 ident.Digest   `json:"service_ca_sha256"` // SHA-256 of that file's bytes
}

// Canonical returns the canonical bytes of d: its JSON encoding, compact, fields in the order
// of the struct.
func (d Device) Canonical() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic("state: marshal device.json: " + err.Error()) // strings and arrays only
	}
	return b
}

// ConfigMeasurement is the SHA-512 of d's canonical bytes: the DICE configuration input.
func (d Device) ConfigMeasurement() [64]byte { return sha512.Sum512(d.Canonical()) }

// Check validates every field of d.
func (d Device) Check() error {
	if err := CheckServiceURL(d.ServiceURL); err != nil {
		return err
	}
	if _, err := ident.ParseDeviceID(string(d.DeviceID)); err != nil {
		return err
	}
	if d.ServiceCA == "" || d.ServiceCA != filepath.Base(d.ServiceCA) || d.ServiceCA[0] == '.' {
		return fmt.Errorf("service CA file %q must be a plain file name in the state folder", d.ServiceCA)
	}
	return nil
}

// CheckServiceURL checks that s is an https URL of a host, without path, query or fragment.
func CheckServiceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("invalid service URL %q: want https://HOST[:PORT]", clip(s))
	}
	return nil
}

// ReadDevice reads and checks device.json.
func (d Dir) ReadDevice() (Device, error) {
	var dev Device
	if err := d.readJSON(FileDevice, &dev); err != nil {
		return Device{}, err
	}
	if err := dev.Check(); err != nil {
		return Device{}, fmt.Errorf("%s: %w", d.Path(FileDevice), err)
	}
	return dev, nil
}

// WriteDevice writes device.json.
func (d Dir) WriteDevice(dev Device) error {
	if err := dev.Check(); err != nil {
		return err
	}
	return d.writeJSON(FileDevice, dev)
}

// ReadServiceCA reads the service CA file named in dev and checks that it is the one dev was
// made with.
func (d Dir) ReadServiceCA(dev Device) ([]byte, error) {
	b, err := ReadFile(d.Path(dev.ServiceCA), MaxFileSize)
	if err != nil {
		return nil, fmt.Errorf("service CA: %w", err)
	}
	if sha256.Sum256(b) != dev.ServiceCASHA256 {
		return nil, fmt.Errorf("service CA %s is not the one given at init (its SHA-256 differs from device.json's)", d.Path(dev.ServiceCA))
	}
	return b, nil
}

// Slot names one of the two runtime slots.
type Slot string

// The slots.
const (
	SlotA Slot = "a"
	SlotB Slot = "b"
)

// Valid reports whether s is a or b.
func (s Slot) Valid() bool { return s == SlotA || s == SlotB }

// Boot is boot.json: what stage 0 boots.
//
// # The A/B trial
//
// An update installs a runtime in the slot that is not active, then sets Pending to it (Tries
// 0) and has stage 1 exit with the restart code. Stage 0 boots a Pending slot once: it writes
// Tries = 1 before starting it, so a trial that dies, hangs until a power cut or exits without
// committing is never started again. The new stage 1 commits after its health check (an
// attestation that passes and a check-in) by making Pending the Active slot. When stage 0
// finds a trial that did not commit (Tries ≥ 1 at start, or Pending still set once the trial's
// stage 1 has exited), it clears Pending, records the rollback in status.json and boots the
// Active slot, which was never changed.
type Boot struct {
	Active Slot `json:"active_slot"`
	// Factory holds, per slot, the SHA-512 of the factory image pinned at init. Stage 0 boots a
	// slot's runtime if it measures to its pin, or if it came from a runtime package signed by
	// one of the runtime keys.
	Factory map[Slot]Digest512 `json:"factory_sha512"`
	// Pending is the slot on trial: booted once, committed after a health check. Empty if none.
	Pending Slot `json:"pending,omitempty"`
	// Tries counts the boots of Pending that stage 0 started.
	Tries int `json:"tries,omitempty"`
}

// Check validates b.
func (b Boot) Check() error {
	if !b.Active.Valid() {
		return fmt.Errorf("active slot %q is not a or b", clip(string(b.Active)))
	}
	for s := range b.Factory {
		if !s.Valid() {
			return fmt.Errorf("slot %q is not a or b", clip(string(s)))
		}
	}
	switch {
	case b.Pending != "" && !b.Pending.Valid():
		return fmt.Errorf("pending slot %q is not a or b", clip(string(b.Pending)))
	case b.Pending != "" && b.Pending == b.Active:
		return fmt.Errorf("pending slot %s is the active slot", b.Pending)
	case b.Tries < 0 || b.Pending == "" && b.Tries != 0:
		return fmt.Errorf("tries %d without a pending slot, or negative", b.Tries)
	}
	return nil
}

// Other returns the slot that is not s.
func (s Slot) Other() Slot {
	if s == SlotA {
		return SlotB
	}
	return SlotA
}

// ReadBoot reads and checks boot.json.
func (d Dir) ReadBoot() (Boot, error) {
	var b Boot
	if err := d.readJSON(FileBoot, &b); err != nil {
		return Boot{}, err
	}
	if err := b.Check(); err != nil {
		return Boot{}, fmt.Errorf("%s: %w", d.Path(FileBoot), err)
	}
	return b, nil
}

// WriteBoot writes boot.json, atomically.
func (d Dir) WriteBoot(b Boot) error {
	if err := b.Check(); err != nil {
		return err
	}
	return d.writeJSON(FileBoot, b)
}

// Status is status.json: what the device last did, for `rampart-device status`. Stage 1
// writes it, and stage 0 when it rolls a trial back (never both at once: stage 0 waits for
// stage 1).
type Status struct {
	Boot        *BootRecord        `json:"boot,omitempty"`
	Attestation *AttestationRecord `json:"attestation,omitempty"`
	Update      *UpdateRecord      `json:"update,omitempty"`
	// RolledBack is the last runtime whose trial failed. The update client does not install
	// that image again (unless Retry), but a newer release.
	RolledBack *RollbackRecord `json:"rolled_back,omitempty"`
}

// UpdateRecord is the outcome of the last update cycle that changed something or failed, or
// of the last runtime trial.
type UpdateRecord struct {
	At       time.Time `json:"at"`
	Result   string    `json:"result"` // api.UpdateOK, api.UpdateFailed or api.UpdateRolledBack
	Message  string    `json:"message,omitempty"`
	Reported bool      `json:"reported"` // the service has acknowledged it
}

// RollbackRecord is a runtime trial that stage 0 rolled back.
type RollbackRecord struct {
	At      time.Time `json:"at"`
	Slot    Slot      `json:"slot"`               // the slot that was on trial
	ImageID string    `json:"image_id,omitempty"` // its image, if its package header was readable
	Reason  string    `json:"reason"`
	// Retry is set when the trial was interrupted (a power cut, a signal) rather than failed,
	// the first time this image's trial was: the update client tries it once more.
	Retry bool `json:"retry,omitempty"`
}

// BootRecord is what stage 1 was booted as.
type BootRecord struct {
	At           time.Time    `json:"at"`
	Slot         Slot         `json:"slot"`
	Measurements Measurements `json:"measurements"`
}

// Attestation results besides the service's pass and fail: the attempt did not get an answer.
const ResultError = "error"

// AttestationRecord is the outcome of the last attestation attempt.
type AttestationRecord struct {
	At          time.Time `json:"at"`
	Result      string    `json:"result"`           // pass, fail or error
	Reason      string    `json:"reason,omitempty"` // the service's reason, on a fail
	Message     string    `json:"message,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastPass    time.Time `json:"last_pass,omitzero"` // when an attestation last passed
}

// ReadStatus reads status.json; a missing file is an empty status.
func (d Dir) ReadStatus() (Status, error) {
	var s Status
	err := d.readJSON(FileStatus, &s)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, nil
	}
	return s, err
}

// WriteStatus writes status.json.
func (d Dir) WriteStatus(s Status) error { return d.writeJSON(FileStatus, s) }

// EditStatus reads status.json, lets edit change it and writes it back, so that each part of
// the runtime changes only its own fields. An unreadable status.json is started afresh.
func (d Dir) EditStatus(edit func(*Status)) error {
	s, err := d.ReadStatus()
	if err != nil {
		s = Status{}
	}
	edit(&s)
	return d.WriteStatus(s)
}

// ErrNoCertificate is returned by [Dir.ReadCert] when the device has no certificate yet.
var ErrNoCertificate = errors.New("no certificate yet")

// ReadCert reads cert.pem: the device certificate followed by its CA chain, in PEM.
func (d Dir) ReadCert() ([]byte, error) {
	b, err := ReadFile(d.Path(FileCert), MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCertificate
	}
	return b, err
}

// WriteCert replaces cert.pem atomically.
func (d Dir) WriteCert(pemChain []byte) error { return WriteFile(d.Path(FileCert), pemChain, 0o600) }

// Digest512 is a SHA-512 digest, in JSON as 128 lowercase hex characters.
type Digest512 [64]byte

func (h Digest512) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes h as lowercase hex.
func (h Digest512) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses 128 lowercase hex characters.
func (h *Digest512) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("invalid SHA-512 %q: want 128 lowercase hex characters", clip(string(b)))
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("invalid SHA-512 %q: want 128 lowercase hex characters", clip(string(b)))
		}
	}
	hex.Decode(h[:], b)
	return nil
}

// Measurements is the JSON form of [dice.Measurements], as status.json and stage 0's handoff
// carry them.
type Measurements struct {
	Runtime   Digest512 `json:"runtime_sha512"`
	Config    Digest512 `json:"config_sha512"`
	Authority Digest512 `json:"authority_sha512"`
	Mode      string    `json:"mode"` // normal, debug, recovery or not-configured
}

// FromDice converts m to its JSON form.
func FromDice(m dice.Measurements) Measurements {
	return Measurements{Runtime: m.Runtime, Config: m.Config, Authority: m.Authority, Mode: m.Mode.String()}
}

// Dice converts m back, refusing an unknown mode.
func (m Measurements) Dice() (dice.Measurements, error) {
	out := dice.Measurements{Runtime: m.Runtime, Config: m.Config, Authority: m.Authority}
	for mode := dice.ModeNotConfigured; mode.Valid(); mode++ {
		if mode.String() == m.Mode {
			out.Mode = mode
			return out, nil
		}
	}
	return dice.Measurements{}, fmt.Errorf("invalid DICE mode %q", clip(m.Mode))
}

// clip keeps error messages short whatever the input was.
func clip(s string) string {
	if len(s) > 70 {
		s = s[:70] + "…"
	}
	return s
}

// MaxRuntimeKeys bounds runtime-keys.pem.
const MaxRuntimeKeys = 16

// ParseRuntimeKeys parses PEM runtime-signing public keys: one or more "PUBLIC KEY" blocks of
// ECDSA P-256 keys and nothing else.
func ParseRuntimeKeys(b []byte) ([]*ecdsa.PublicKey, error) {
	var keys []*ecdsa.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("runtime keys: a %q PEM block: want only PUBLIC KEY blocks", clip(blk.Type))
		}
		pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("runtime keys: %w", err)
		}
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, errors.New("runtime keys: want ECDSA P-256 keys")
		}
		if len(keys) == MaxRuntimeKeys {
			return nil, fmt.Errorf("runtime keys: more than %d", MaxRuntimeKeys)
		}
		keys = append(keys, k)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, errors.New("runtime keys: data that is not PEM")
	}
	if len(keys) == 0 {
		return nil, errors.New("runtime keys: no PEM public key")
	}
	return keys, nil
}

// ReadRuntimeKeys reads runtime-keys.pem. A device without the file (made before runtime
// updates existed) has none: it boots only its factory image.
func (d Dir) ReadRuntimeKeys() ([]*ecdsa.PublicKey, error) {
	b, err := ReadFile(d.Path(FileRuntimeKeys), MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := ParseRuntimeKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Path(FileRuntimeKeys), err)
	}
	return keys, nil
}

// WriteRuntimeKeys checks and writes runtime-keys.pem.
func (d Dir) WriteRuntimeKeys(pemKeys []byte) error {
	if _, err := ParseRuntimeKeys(pemKeys); err != nil {
		return err
	}
	return WriteFile(d.Path(FileRuntimeKeys), pemKeys, 0o600)
}
