package tpm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// MaxSealedValues is the most PCR values one sealed object accepts: PolicyOR takes at most 8
// branches.
const MaxSealedValues = 8

// MaxSealedSize bounds the data one sealed object holds (TPM2B_SENSITIVE_DATA's usual limit).
const MaxSealedSize = 128

// Sealed is a TPM sealed data object: data that the TPM releases only while the runtime PCR
// holds one of Values. Public and Private are wrapped by the SRK, so only this TPM can load
// them; Values are public.
type Sealed struct {
	PCR     int        `json:"pcr"`
	Values  [][32]byte `json:"values"`  // the PCR values the data is sealed to
	Public  []byte     `json:"public"`  // TPM2B_PUBLIC contents
	Private []byte     `json:"private"` // TPM2B_PRIVATE contents
}

// pcrSelectionBytes is TPML_PCR_SELECTION naming one PCR of the SHA-256 bank.
func pcrSelectionBytes(pcr int) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.AlgSHA256))
	sel := make([]byte, 3)
	sel[pcr/8] |= 1 << (pcr % 8)
	return append(append(b, 3), sel...)
}

// PCRPolicy is the policy digest of TPM2_PolicyPCR on the PCR holding value, from an empty
// policy (TPM 2.0 Part 3, 23.7):
//
//	H(0³² ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ H(value))
func PCRPolicy(pcr int, value [32]byte) [32]byte {
	d := sha256.Sum256(value[:])
	b := make([]byte, 32, 128)
	b = binary.BigEndian.AppendUint32(b, uint32(tpm2.CmdPolicyPCR))
	b = append(b, pcrSelectionBytes(pcr)...)
	return sha256.Sum256(append(b, d[:]...))
}

// orPolicy is the policy digest of TPM2_PolicyOR over branches (23.6):
// H(0³² ‖ TPM_CC_PolicyOR ‖ digests…).
func orPolicy(branches [][32]byte) [32]byte {
	b := make([]byte, 32, 32+4+32*len(branches))
	b = binary.BigEndian.AppendUint32(b, uint32(tpm2.CmdPolicyOr))
	for _, d := range branches {
		b = append(b, d[:]...)
	}
	return sha256.Sum256(b)
}

// branches returns the PolicyOR branches for values: one PolicyPCR digest each, and at least
// two (PolicyOR needs two), so a single value is repeated.
func branches(pcr int, values [][32]byte) ([][32]byte, error) {
	if len(values) == 0 || len(values) > MaxSealedValues {
		return nil, fmt.Errorf("seal: %d PCR values, want 1 to %d", len(values), MaxSealedValues)
	}
	var out [][32]byte
	for _, v := range values {
		out = append(out, PCRPolicy(pcr, v))
	}
	if len(out) == 1 {
		out = append(out, out[0])
	}
	return out, nil
}

// Seal seals data (at most MaxSealedSize bytes) under the SRK to the PCR holding any of values:
// the object's policy is PolicyOR of one PolicyPCR per value, and it has no password use
// (userWithAuth clear), so nothing else releases it.
func (t *TPM) Seal(data []byte, pcr int, values [][32]byte) (*Sealed, error) {
	if len(data) == 0 || len(data) > MaxSealedSize {
		return nil, fmt.Errorf("seal: %d bytes, want 1 to %d", len(data), MaxSealedSize)
	}
	br, err := branches(pcr, values)
	if err != nil {
		return nil, err
	}
	policy := orPolicy(br)
	t.mu.Lock()
	defer t.mu.Unlock()
	priv, pub, err := tpm2.Seal(t.rwc, tpmutil.Handle(srkHandle), "", "", policy[:], data)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Sealed{PCR: pcr, Values: values, Public: pub, Private: priv}, nil
}

// ErrPolicy is returned by [TPM.Unseal] when the PCR holds none of the values the data is
// sealed to: another runtime is running, or the data was never handed over to this one.
var ErrPolicy = errors.New("the runtime PCR holds none of the values the data is sealed to")

// Unseal returns the data of s, which the TPM releases only if the PCR holds one of s.Values.
func (t *TPM) Unseal(s *Sealed) ([]byte, error) {
	br, err := branches(s.PCR, s.Values)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	rw := t.rwc
	h, _, err := tpm2.Load(rw, tpmutil.Handle(srkHandle), "", s.Public, s.Private)
	if err != nil {
		return nil, fmt.Errorf("unseal: load the sealed object (was it sealed by another TPM?): %w", err)
	}
	defer tpm2.FlushContext(rw, h)
	sess, _, err := tpm2.StartAuthSession(rw, tpm2.HandleNull, tpm2.HandleNull, make([]byte, 16), nil,
		tpm2.SessionPolicy, tpm2.AlgNull, tpm2.AlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	defer tpm2.FlushContext(rw, sess)
	sel := tpm2.PCRSelection{Hash: tpm2.AlgSHA256, PCRs: []int{s.PCR}}
	if err := tpm2.PolicyPCR(rw, sess, nil, sel); err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	digests := tpm2.TPMLDigest{}
	for _, d := range br {
		digests.Digests = append(digests.Digests, d[:])
	}
	if err := tpm2.PolicyOr(rw, sess, digests); err != nil {
		return nil, fmt.Errorf("unseal: %w: %v", ErrPolicy, err)
	}
	out, err := tpm2.UnsealWithSession(rw, sess, h, "")
	if err != nil {
		return nil, fmt.Errorf("unseal: %w", err)
	}
	return out, nil
}

// Predict returns the PCR values under which the runtime with measurement record rec will run
// after the log l: appended to it (started without a reboot), and alone (after a reboot).
func Predict(l *Log, rec []byte) [][32]byte {
	next := &Log{PCR: l.PCR, Events: append(append([][]byte{}, l.Events...), rec)}
	fresh := &Log{PCR: l.PCR, Events: [][]byte{rec}}
	return [][32]byte{next.Replay(), fresh.Replay()}
}
