package evidence

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits on the TPM claim's fields, in bytes. TPM structures are small; the event log holds
// Rampart's own events only (see MaxTPMEvents in the device runtime), an EK certificate a few
// hundred bytes to a couple of kilobytes.
const (
	MaxEKCertificateSize = 4096
	MaxTPMStructureSize  = 1024     // TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE, TPMS_CREATION_DATA
	MaxEventLogSize      = 17 << 10 // 64 events of Rampart's (MaxTPMEvents) and the header
	TPMActivationSize    = 32
	TPMDigestSize        = 32 // SHA-256, the only PCR bank Rampart reads
)

// The PCRs a runtime may be measured into: 8 to 15. PCRs 0 to 7 belong to the platform's
// firmware, and 16 and 23 can be reset by software, which would let a changed runtime erase
// its own measurement.
const (
	MinRuntimePCR = 8
	MaxRuntimePCR = 15
)

// TPM is the proof of a TPM 2.0 root of trust: claim -65540, present exactly when the device's
// root of trust is a TPM. The token is then signed with a TPM-resident signing key, certified by
// the attestation key (AK), instead of a DICE Alias key, and the device-key claim is the AK's
// public key. The TPM structures are carried as the TPM encodes them (the TPM2B's contents,
// without the size prefix).
type TPM struct {
	// EKCertificate is the DER X.509 certificate of the TPM's endorsement key, issued by its
	// manufacturer.
	EKCertificate []byte
	// AKPublic is the TPMT_PUBLIC of the attestation key.
	AKPublic []byte
	// Activation is the secret the device recovered with TPM2_ActivateCredential from the
	// service's credential challenge for this nonce: only the TPM holding both the EK and the
	// AK could.
	Activation []byte
	// PCR is the PCR the runtime is measured into, MinRuntimePCR to MaxRuntimePCR.
	PCR int
	// PCRValue is that PCR's SHA-256 bank value when quoted.
	PCRValue []byte
	// Quote is the TPMS_ATTEST of a TPM2_Quote by the AK over PCR, with the nonce as its
	// qualifying data; QuoteSignature is its TPMT_SIGNATURE.
	Quote, QuoteSignature []byte
	// EventLog is the TCG PC Client crypto-agile event log of PCR's events, SHA-256 only.
	EventLog []byte
	// KeyPublic is the TPMT_PUBLIC of the signing key that signed the token and that the
	// device certificate is issued for. KeyCreateData (TPMS_CREATION_DATA),
	// KeyCreateAttestation (TPMS_ATTEST) and KeyCreateSignature (TPMT_SIGNATURE, by the AK)
	// certify that the key was made in the same TPM and cannot leave it.
	KeyPublic, KeyCreateData, KeyCreateAttestation, KeyCreateSignature []byte
}

// tpmWire is the claim's CBOR form: a map with integer keys 1 to 12, every one present.
type tpmWire struct {
	EKCertificate        []byte `cbor:"1,keyasint"`
	AKPublic             []byte `cbor:"2,keyasint"`
	Activation           []byte `cbor:"3,keyasint"`
	PCR                  uint64 `cbor:"4,keyasint"`
	PCRValue             []byte `cbor:"5,keyasint"`
	Quote                []byte `cbor:"6,keyasint"`
	QuoteSignature       []byte `cbor:"7,keyasint"`
	EventLog             []byte `cbor:"8,keyasint"`
	KeyPublic            []byte `cbor:"9,keyasint"`
	KeyCreateData        []byte `cbor:"10,keyasint"`
	KeyCreateAttestation []byte `cbor:"11,keyasint"`
	KeyCreateSignature   []byte `cbor:"12,keyasint"`
}

// tpmClaimKeys is the number of keys tpmWire has; a claim with fewer or more is malformed.
const tpmClaimKeys = 12

func (t *TPM) wire() *tpmWire {
	if t == nil {
		return nil
	}
	return &tpmWire{
		EKCertificate: t.EKCertificate, AKPublic: t.AKPublic, Activation: t.Activation,
		PCR: uint64(t.PCR), PCRValue: t.PCRValue, Quote: t.Quote, QuoteSignature: t.QuoteSignature,
		EventLog: t.EventLog, KeyPublic: t.KeyPublic, KeyCreateData: t.KeyCreateData,
		KeyCreateAttestation: t.KeyCreateAttestation, KeyCreateSignature: t.KeyCreateSignature,
	}
}

func (w *tpmWire) tpm() (*TPM, error) {
	if w.PCR > MaxRuntimePCR {
		return nil, fmt.Errorf("tpm: PCR %d, want %d to %d", w.PCR, MinRuntimePCR, MaxRuntimePCR)
	}
	return &TPM{
		EKCertificate: w.EKCertificate, AKPublic: w.AKPublic, Activation: w.Activation,
		PCR: int(w.PCR), PCRValue: w.PCRValue, Quote: w.Quote, QuoteSignature: w.QuoteSignature,
		EventLog: w.EventLog, KeyPublic: w.KeyPublic, KeyCreateData: w.KeyCreateData,
		KeyCreateAttestation: w.KeyCreateAttestation, KeyCreateSignature: w.KeyCreateSignature,
	}, nil
}

// check validates the claim's sizes and ranges.
func (t *TPM) check() error {
	if t.PCR < MinRuntimePCR || t.PCR > MaxRuntimePCR {
		return fmt.Errorf("tpm: PCR %d, want %d to %d", t.PCR, MinRuntimePCR, MaxRuntimePCR)
	}
	for _, f := range []struct {
		name     string
		b        []byte
		min, max int
	}{
		{"EK certificate", t.EKCertificate, 1, MaxEKCertificateSize},
		{"AK public area", t.AKPublic, 1, MaxTPMStructureSize},
		{"activation secret", t.Activation, TPMActivationSize, TPMActivationSize},
		{"PCR value", t.PCRValue, TPMDigestSize, TPMDigestSize},
		{"quote", t.Quote, 1, MaxTPMStructureSize},
		{"quote signature", t.QuoteSignature, 1, MaxTPMStructureSize},
		{"event log", t.EventLog, 1, MaxEventLogSize},
		{"signing key's public area", t.KeyPublic, 1, MaxTPMStructureSize},
		{"signing key's creation data", t.KeyCreateData, 1, MaxTPMStructureSize},
		{"signing key's certification", t.KeyCreateAttestation, 1, MaxTPMStructureSize},
		{"signing key's certification signature", t.KeyCreateSignature, 1, MaxTPMStructureSize},
	} {
		if n := len(f.b); n < f.min || n > f.max {
			if f.min == f.max {
				return fmt.Errorf("tpm: %s is %d bytes, want %d", f.name, n, f.min)
			}
			return fmt.Errorf("tpm: %s is %d bytes, want %d to %d", f.name, n, f.min, f.max)
		}
	}
	return nil
}

// SignTPM makes a token of c, which must carry the TPM claim, signed with the TPM signing key
// whose public area is c.TPM.KeyPublic. The token's protected header has no x5chain: the
// signing key is certified by the claim, not by an Alias certificate.
func SignTPM(c Claims, key crypto.Signer) ([]byte, error) {
	if c.TPM == nil {
		return nil, errors.New("sign evidence: no TPM claim")
	}
	return sign(c, key, nil)
}

// parseTPM reads the TPM claim: a map with every one of its keys and no other.
func parseTPM(raw cbor.RawMessage, w *tpmWire) (*TPM, error) {
	var keys map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(raw, &keys); err != nil {
		return nil, fmt.Errorf("tpm: %w", err)
	}
	if len(keys) != tpmClaimKeys || w == nil {
		return nil, fmt.Errorf("tpm: want a map of keys 1 to %d, every one present", tpmClaimKeys)
	}
	return w.tpm()
}
