// Package handoff is what stage 0 hands to stage 1 when it starts it: the layer's CDIs, its
// Alias certificate, the DeviceID public key and the measurements — never the UDS or the
// DeviceID private key (DESIGN section 4).
//
// Stage 0 writes one [Handoff] as JSON to a pipe that stage 1 inherits as file descriptor 3,
// then closes it; stage 1 reads it with [Read] before anything else. On file descriptor 4 it
// also finds the verifier of the device's claim code ([ClaimVerifierFD], [ReadClaimVerifier]).
// Both stages are the same program today, but they are different layers of trust, so the bytes
// between them are a format of their own, decoded strictly and bounded like any other input.
//
// # Format
//
//	{
//	  "version": 1,
//	  "slot": "a",
//	  "cdi_attest": "<base64, 32 bytes>",
//	  "cdi_seal": "<base64, 32 bytes>",
//	  "alias_certificate": "<base64 DER X.509>",
//	  "device_id_public_key": "<base64 DER SubjectPublicKeyInfo>",
//	  "measurements": {"runtime_sha512": "<hex>", "config_sha512": "<hex>", "authority_sha512": "<hex>", "mode": "normal"}
//	}
//
// A device whose root of trust is a TPM has no CDI and no Alias certificate: its handoff says
// "root": "tpm", leaves out cdi_attest, cdi_seal and alias_certificate, and its
// device_id_public_key is the TPM attestation key's. Stage 1 opens the TPM itself (tpm.json
// names it) and checks that the measurements are the last event of the PCR's log.
package handoff

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// FD is the file descriptor on which stage 1 finds the handoff.
const FD = 3

// ClaimVerifierFD is the file descriptor on which stage 1 finds the verifier of the device's
// claim code (ident.ClaimVerifier, 32 raw bytes), which it proves in its evidence. It is apart
// from the JSON handoff so that a runtime older than claim codes, which decodes the handoff
// strictly, still boots: it never reads this descriptor.
const ClaimVerifierFD = 4

// Version is the handoff format's version.
const Version = 1

// MaxSize bounds a handoff, in bytes.
const MaxSize = 64 << 10

// Handoff is what stage 1 receives. CDIAttest and CDISeal are secrets of this boot: whoever
// holds them can act as this device running this runtime.
type Handoff struct {
	Version      int                `json:"version"`
	Root         string             `json:"root,omitempty"` // "tpm", or empty for the software root
	Slot         state.Slot         `json:"slot"`
	CDIAttest    []byte             `json:"cdi_attest,omitempty"`
	CDISeal      []byte             `json:"cdi_seal,omitempty"`
	AliasCert    []byte             `json:"alias_certificate,omitempty"` // DER, issued by the DeviceID key
	DeviceIDKey  []byte             `json:"device_id_public_key"`        // DER SubjectPublicKeyInfo
	Measurements state.Measurements `json:"measurements"`

	// ClaimVerifier is the verifier of the device's claim code, read from ClaimVerifierFD by
	// [ReadClaimVerifier]; nil when stage 0 handed none.
	ClaimVerifier []byte `json:"-"`
}

// ReadClaimVerifier reads the claim-code verifier from r: exactly 32 bytes, else nil (a stage 0
// older than claim codes hands none, and then the descriptor is not open).
func ReadClaimVerifier(r io.Reader) []byte {
	b, err := io.ReadAll(io.LimitReader(r, 33))
	if err != nil || len(b) != 32 {
		return nil
	}
	return b
}

// Marshal encodes h.
func (h *Handoff) Marshal() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	return json.Marshal(h)
}

// Read reads and checks one handoff from r, which it reads to its end.
func Read(r io.Reader) (*Handoff, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read handoff: %w", err)
	}
	defer clear(b)
	if len(b) > MaxSize {
		return nil, fmt.Errorf("read handoff: larger than %d bytes", MaxSize)
	}
	var h Handoff
	if err := strictjson.Decode(b, &h); err != nil {
		return nil, fmt.Errorf("read handoff: %w", err)
	}
	if err := h.check(); err != nil {
		h.Zero()
		return nil, fmt.Errorf("read handoff: %w", err)
	}
	return &h, nil
}

func (h *Handoff) check() error {
	switch {
	case h.Version != Version:
		return fmt.Errorf("version %d, want %d", h.Version, Version)
	case !h.Slot.Valid():
		return fmt.Errorf("slot %q is not a or b", h.Slot)
	case h.Root != "" && h.Root != state.RootTPM:
		return fmt.Errorf("root of trust %q is not tpm", h.Root)
	case h.Root == state.RootTPM:
		if h.CDIAttest != nil || h.CDISeal != nil || h.AliasCert != nil || len(h.DeviceIDKey) == 0 {
			return fmt.Errorf("a TPM device's handoff has its attestation key alone: no CDI, no alias certificate")
		}
	case len(h.CDIAttest) != rot.CDISize || len(h.CDISeal) != rot.CDISize:
		return fmt.Errorf("CDIs must be %d bytes", rot.CDISize)
	case len(h.AliasCert) == 0 || len(h.DeviceIDKey) == 0:
		return fmt.Errorf("alias certificate or DeviceID key missing")
	}
	_, err := h.Measurements.Dice()
	return err
}

// Zero overwrites the CDIs (best effort: the garbage collector may have copied them).
func (h *Handoff) Zero() {
	clear(h.CDIAttest)
	clear(h.CDISeal)
}
