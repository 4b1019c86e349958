package evidence

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/veraison/go-cose"
)

// The classes of error of a token with the TPM claim, beside ErrMalformed, ErrBadSignature and
// ErrMeasurementMismatch.
var (
	// ErrKeyNotCertified: the signing key is not a TPM-resident, non-exportable key certified
	// by the attestation key.
	ErrKeyNotCertified = errors.New("signing key not certified by the attestation key")
	// ErrBadQuote: the quote is not signed by the attestation key, not over the token's
	// nonce, or not over exactly the runtime PCR and the value the claim gives.
	ErrBadQuote = errors.New("TPM quote does not verify")
	// ErrEventLogMismatch: the event log does not replay to the quoted PCR value, or holds an
	// event that is not Rampart's measurement of a runtime.
	ErrEventLogMismatch = errors.New("event log does not match the quoted PCR")
)

// MaxTPMEvents is the most events an event log may hold.
const MaxTPMEvents = 64

// EventTypeRuntime is the event type of Rampart's events in the event log: EV_EVENT_TAG.
const EventTypeRuntime = 0x00000006

// measurementLabel starts the data of each of Rampart's events.
const measurementLabel = "RAMPART-RUNTIME\x00"

// MeasurementRecordSize is the size of a measurement record.
const MeasurementRecordSize = len(measurementLabel) + 3*dice.DigestSize + 1

// MeasurementRecord is the data of the event that records a runtime's measurements in the
// event log: "RAMPART-RUNTIME\x00" ‖ runtime ‖ config ‖ authority ‖ mode (one byte). Stage 0
// extends the runtime PCR with its SHA-256.
func MeasurementRecord(m dice.Measurements) []byte {
	b := make([]byte, 0, MeasurementRecordSize)
	b = append(b, measurementLabel...)
	b = append(b, m.Runtime[:]...)
	b = append(b, m.Config[:]...)
	b = append(b, m.Authority[:]...)
	return append(b, byte(m.Mode))
}

// ParseMeasurementRecord reads a measurement record.
func ParseMeasurementRecord(b []byte) (dice.Measurements, error) {
	var m dice.Measurements
	if len(b) != MeasurementRecordSize || !bytes.HasPrefix(b, []byte(measurementLabel)) {
		return m, errors.New("not a Rampart measurement record")
	}
	b = b[len(measurementLabel):]
	copy(m.Runtime[:], b)
	copy(m.Config[:], b[dice.DigestSize:])
	copy(m.Authority[:], b[2*dice.DigestSize:])
	m.Mode = dice.Mode(b[3*dice.DigestSize])
	return m, nil
}

// verifyTPM checks a token with the TPM claim, in this order:
//
//  1. the AK public area is an ECDSA P-256 restricted signing key that cannot leave its TPM,
//     and its SubjectPublicKeyInfo is the device-key claim, else ErrMalformed;
//  2. the signing key is an ECDSA P-256 signing key made in the TPM that cannot leave it,
//     certified by the AK with TPM2_CertifyCreation and its creation data, else
//     ErrKeyNotCertified;
//  3. the token is signed by the signing key, else ErrBadSignature;
//  4. the quote is signed by the AK, over the nonce, and over exactly the runtime PCR in the
//     SHA-256 bank with the value the claim gives, else ErrBadQuote; and the signing key's
//     creation data records that PCR with that value (the key was made for this runtime's
//     boot), else ErrKeyNotCertified;
//  5. the event log holds only Rampart's measurement records of that PCR, each extended as its
//     SHA-256, and replays to that value, else ErrEventLogMismatch;
//  6. its last record equals the measurements claim, else ErrMeasurementMismatch.
//
// It does not check the EK certificate, nor the activation secret: those need the service's
// trust anchors and keys.
func (e *Evidence) verifyTPM() error {
	t := e.Claims.TPM
	ak, err := parseAKPublic(t.AKPublic)
	if err != nil {
		return fmt.Errorf("%w: attestation key: %v", ErrMalformed, err)
	}
	if spki, err := x509.MarshalPKIXPublicKey(ak); err != nil || !bytes.Equal(spki, e.Claims.DeviceKey) {
		return fmt.Errorf("%w: the device-key claim is not the attestation key", ErrMalformed)
	}
	key, err := verifyCertifiedKey(t, ak)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrKeyNotCertified, err)
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmES256, key)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if err := e.msg.Verify(nil, verifier); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	pcr := attest.PCR{Index: t.PCR, Digest: t.PCRValue, DigestAlg: crypto.SHA256}
	akPub := attest.AKPublic{Public: ak, Hash: crypto.SHA256}
	if err := safely(func() error {
		return akPub.Verify(attest.Quote{Quote: t.Quote, Signature: t.QuoteSignature}, []attest.PCR{pcr}, e.Claims.Nonce)
	}); err != nil {
		return fmt.Errorf("%w: %v", ErrBadQuote, err)
	}
	if err := safely(func() error { return keyMadeUnder(t) }); err != nil {
		return fmt.Errorf("%w: %v", ErrKeyNotCertified, err)
	}
	records, err := replayEventLog(t.EventLog, pcr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEventLogMismatch, err)
	}
	if records[len(records)-1] != e.Claims.Measurements {
		return fmt.Errorf("%w: the event log's last measurement is not the one claimed", ErrMeasurementMismatch)
	}
	e.aliasKey, e.bootMeasurements = key, records
	return nil
}

// BootMeasurements returns, for a token with the TPM claim that Verify accepted, the
// measurement records of the event log in order: every runtime measured into the PCR since the
// TPM was last reset, the running one last. Nil for a token of the software root.
func (e *Evidence) BootMeasurements() []dice.Measurements { return e.bootMeasurements }

// safely runs fn, turning a panic in a parser of untrusted bytes into an error.
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unparseable TPM structure: %v", r)
		}
	}()
	return fn()
}

// decodePublic decodes a TPMT_PUBLIC strictly: no trailing bytes, one encoding.
func decodePublic(b []byte) (tpm2.Public, error) {
	var pub tpm2.Public
	err := safely(func() error {
		var err error
		if pub, err = tpm2.DecodePublic(b); err != nil {
			return err
		}
		again, err := pub.Encode()
		if err != nil || !bytes.Equal(again, b) {
			return errors.New("TPMT_PUBLIC has trailing or non-canonical bytes")
		}
		return nil
	})
	return pub, err
}

// residentKey is what every key Rampart trusts in a TPM has: made in the TPM, never to leave it.
const residentKey = tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin

// p256Key checks pub is an ECDSA P-256 key named with SHA-256 and returns its key.
func p256Key(pub tpm2.Public) (*ecdsa.PublicKey, error) {
	if pub.Type != tpm2.AlgECC || pub.ECCParameters == nil || pub.ECCParameters.CurveID != tpm2.CurveNISTP256 {
		return nil, errors.New("not an ECC P-256 key")
	}
	if pub.NameAlg != tpm2.AlgSHA256 {
		return nil, errors.New("name algorithm is not SHA-256")
	}
	k, err := pub.Key()
	if err != nil {
		return nil, err
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	if _, err := ec.ECDH(); err != nil { // refuses a point not on the curve
		return nil, err
	}
	return ec, nil
}

// parseAKPublic reads the AK: a restricted ECDSA P-256 signing key (it signs only what the TPM
// made, such as quotes and certifications) that cannot leave its TPM.
func parseAKPublic(b []byte) (*ecdsa.PublicKey, error) {
	pub, err := decodePublic(b)
	if err != nil {
		return nil, err
	}
	ak, err := p256Key(pub)
	if err != nil {
		return nil, err
	}
	want := residentKey | tpm2.FlagRestricted | tpm2.FlagSign
	if pub.Attributes&want != want || pub.Attributes&tpm2.FlagDecrypt != 0 {
		return nil, errors.New("not a restricted signing key bound to its TPM")
	}
	if s := pub.ECCParameters.Sign; s == nil || s.Alg != tpm2.AlgECDSA || s.Hash != tpm2.AlgSHA256 {
		return nil, errors.New("signing scheme is not ECDSA with SHA-256")
	}
	return ak, nil
}

// verifyCertifiedKey checks the signing key's public area and its certification by the AK, and
// returns the key.
func verifyCertifiedKey(t *TPM, ak *ecdsa.PublicKey) (*ecdsa.PublicKey, error) {
	pub, err := decodePublic(t.KeyPublic)
	if err != nil {
		return nil, err
	}
	key, err := p256Key(pub)
	if err != nil {
		return nil, err
	}
	if pub.Attributes&(residentKey|tpm2.FlagSign) != residentKey|tpm2.FlagSign ||
		pub.Attributes&(tpm2.FlagRestricted|tpm2.FlagDecrypt) != 0 {
		return nil, errors.New("not an unrestricted signing key bound to its TPM")
	}
	err = safely(func() error {
		att, err := tpm2.DecodeAttestationData(t.KeyCreateAttestation)
		if err != nil {
			return err
		}
		if att.Type != tpm2.TagAttestCreation {
			return errors.New("the key is not certified with TPM2_CertifyCreation")
		}
		return verifyCreation(t, pub, att, ak)
	})
	return key, err
}

// verifyCreation checks a TPM2_CertifyCreation of the signing key by the AK: it names the key,
// its creation data is the one given, and the AK signed it.
func verifyCreation(t *TPM, pub tpm2.Public, att *tpm2.AttestationData, ak *ecdsa.PublicKey) error {
	info := att.AttestedCreationInfo
	if info == nil {
		return errors.New("no creation info")
	}
	if ok, err := info.Name.MatchesPublic(pub); err != nil || !ok {
		return errors.New("certification names another key")
	}
	if sum := sha256.Sum256(t.KeyCreateData); !bytes.Equal(info.OpaqueDigest, sum[:]) {
		return errors.New("certification is of other creation data")
	}

	sig, err := tpm2.DecodeSignature(bytes.NewBuffer(t.KeyCreateSignature))
	if err != nil {
		return err
	}
	digest := sha256.Sum256(t.KeyCreateAttestation)
	if sig.ECC == nil || sig.ECC.HashAlg != tpm2.AlgSHA256 || !ecdsa.Verify(ak, digest[:], sig.ECC.R, sig.ECC.S) {
		return errors.New("certification is not signed by the attestation key")
	}
	return nil
}

// keyMadeUnder checks that the signing key's creation data records the runtime PCR, in the
// SHA-256 bank, holding the value quoted: the key was made for the runtime the quote shows, so
// a key made under an earlier runtime (or before the TPM was reset) cannot speak for this one.
func keyMadeUnder(t *TPM) error {
	cd, err := tpm2.DecodeCreationData(t.KeyCreateData)
	if err != nil {
		return fmt.Errorf("creation data: %v", err)
	}
	if cd.PCRSelection.Hash != tpm2.AlgSHA256 || len(cd.PCRSelection.PCRs) != 1 || cd.PCRSelection.PCRs[0] != t.PCR {
		return fmt.Errorf("the key's creation data does not record PCR %d in the SHA-256 bank", t.PCR)
	}
	if sum := sha256.Sum256(t.PCRValue); !bytes.Equal(cd.PCRDigest, sum[:]) {
		return errors.New("the key was made while the runtime PCR held another value than the one quoted")
	}
	return nil
}

// replayEventLog parses the event log, checks every event is a Rampart measurement record of
// pcr whose digest is its SHA-256, replays it to pcr's value, and returns the records in order.
func replayEventLog(b []byte, pcr attest.PCR) ([]dice.Measurements, error) {
	var events []attest.Event
	err := safely(func() error {
		log, err := attest.ParseEventLog(b)
		if err != nil {
			return err
		}
		if len(log.Algs) != 1 || log.Algs[0] != attest.HashSHA256 {
			return errors.New("the log is not of the SHA-256 bank alone")
		}
		events = log.Events(attest.HashSHA256)
		if len(events) == 0 || len(events) > MaxTPMEvents {
			return fmt.Errorf("the log has %d events, want 1 to %d", len(events), MaxTPMEvents)
		}
		_, err = log.Verify([]attest.PCR{pcr})
		return err
	})
	if err != nil {
		return nil, err
	}
	var replay [sha256.Size]byte
	records := make([]dice.Measurements, 0, len(events))
	for i, ev := range events {
		if ev.Index != pcr.Index || ev.Type != EventTypeRuntime {
			return nil, fmt.Errorf("event %d is of PCR %d, type %#x: want PCR %d, type %#x", i, ev.Index,
				uint32(ev.Type), pcr.Index, EventTypeRuntime)
		}
		sum := sha256.Sum256(ev.Data)
		if !bytes.Equal(ev.Digest, sum[:]) {
			return nil, fmt.Errorf("event %d's digest is not the SHA-256 of its data", i)
		}
		m, err := ParseMeasurementRecord(ev.Data)
		if err != nil {
			return nil, fmt.Errorf("event %d: %v", i, err)
		}
		records = append(records, m)
		replay = sha256.Sum256(append(replay[:], sum[:]...))
	}
	if !bytes.Equal(replay[:], pcr.Digest) {
		return nil, errors.New("the log does not replay to the quoted PCR value")
	}
	return records, nil
}

// TPMAttestationKey reads an attestation key's TPMT_PUBLIC as [Evidence.Verify] does, and
// returns its DER SubjectPublicKeyInfo (whose SHA-256 is the device ID) and its TPM name (the
// name algorithm and the SHA-256 of the public area), for which the service makes a credential
// challenge. An error if it is not an AK that Verify accepts.
func TPMAttestationKey(akPublic []byte) (spki []byte, name *tpm2.HashValue, err error) {
	if len(akPublic) == 0 || len(akPublic) > MaxTPMStructureSize {
		return nil, nil, fmt.Errorf("attestation key: public area is %d bytes, want 1 to %d", len(akPublic), MaxTPMStructureSize)
	}
	ak, err := parseAKPublic(akPublic)
	if err != nil {
		return nil, nil, fmt.Errorf("attestation key: %v", err)
	}
	if spki, err = x509.MarshalPKIXPublicKey(ak); err != nil {
		return nil, nil, fmt.Errorf("attestation key: %v", err)
	}
	sum := sha256.Sum256(akPublic)
	return spki, &tpm2.HashValue{Alg: tpm2.AlgSHA256, Value: sum[:]}, nil
}
