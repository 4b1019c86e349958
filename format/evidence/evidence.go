package evidence

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
	"github.com/veraison/go-cose"
)

// MaxSize is the largest token Parse reads, in bytes.
const MaxSize = 64 << 10

// The classes of error. Every error from Parse and Verify matches exactly one of them with
// [errors.Is]; the service maps each to a reason it gives the device.
var (
	// ErrMalformed: the token is not in this format.
	ErrMalformed = errors.New("malformed evidence")
	// ErrTooLarge: the token is over MaxSize.
	ErrTooLarge = errors.New("evidence too large")
	// ErrBadSignature: the token is not signed by the key of its Alias certificate.
	ErrBadSignature = errors.New("evidence signature does not verify")
	// ErrAliasNotCertified: the Alias certificate is not issued by the token's DeviceID key.
	ErrAliasNotCertified = errors.New("alias key not certified by the device key")
	// ErrMeasurementMismatch: the claimed measurements differ from the certified ones.
	ErrMeasurementMismatch = errors.New("measurements differ from the alias certificate")
)

// cborTagSign1 is the first byte of a COSE_Sign1_Tagged item: tag 18 in its one-byte form.
const cborTagSign1 = 0xd2

// Evidence is a parsed token. Parse checks its form; [Evidence.Verify] checks its signatures.
// Nothing in an Evidence may be trusted before Verify returns nil.
type Evidence struct {
	Claims    Claims
	AliasCert *x509.Certificate // nil in a token with the TPM claim
	DeviceID  ident.DeviceID    // SHA-256 of Claims.DeviceKey

	deviceKey *ecdsa.PublicKey
	aliasKey  *ecdsa.PublicKey  // the key that signed the token: the Alias key, or the TPM signing key once verified
	certified dice.Measurements // from AliasCert's TcbInfo
	msg       *cose.Sign1Message

	bootMeasurements []dice.Measurements // the TPM event log's records, once verified
}

// sign1Wire is COSE_Sign1 (RFC 9052), after its tag.
type sign1Wire struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

// protectedWire is the protected header: exactly alg and x5chain, or alg alone in a token with
// the TPM claim.
type protectedWire struct {
	Alg     int64  `cbor:"1,keyasint"`
	X5Chain []byte `cbor:"33,keyasint,omitempty"`
}

var emptyMap = []byte{0xa0}

// Sign makes a token of c, signed with aliasKey, which aliasCertDER must certify.
func Sign(c Claims, aliasKey crypto.Signer, aliasCertDER []byte) ([]byte, error) {
	cert, err := x509.ParseCertificate(aliasCertDER)
	if err != nil {
		return nil, fmt.Errorf("sign evidence: alias certificate: %w", err)
	}
	if pub, ok := aliasKey.Public().(*ecdsa.PublicKey); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("sign evidence: the alias certificate is not for the signing key")
	}
	return sign(c, aliasKey, aliasCertDER)
}

// sign is Sign without its check that the key matches the certificate. A nil certDER leaves
// x5chain out, as a TPM token has it.
func sign(c Claims, key crypto.Signer, certDER []byte) ([]byte, error) {
	payload, err := marshalClaims(c)
	if err != nil {
		return nil, fmt.Errorf("sign evidence: %w: %v", ErrMalformed, err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		return nil, fmt.Errorf("sign evidence: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	if certDER != nil {
		msg.Headers.Protected[cose.HeaderLabelX5Chain] = certDER
	}
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, fmt.Errorf("sign evidence: %w", err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("sign evidence: %w", err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("sign evidence: %w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	return b, nil
}

// Parse decodes a token strictly, without checking its signatures: see [Evidence.Verify].
func Parse(b []byte) (*Evidence, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	e, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

func parse(b []byte) (*Evidence, error) {
	if len(b) == 0 || b[0] != cborTagSign1 {
		return nil, errors.New("not a COSE_Sign1_Tagged item")
	}
	var w sign1Wire
	if err := decMode.Unmarshal(b[1:], &w); err != nil {
		return nil, fmt.Errorf("COSE_Sign1: %w", err)
	}
	if !bytes.Equal(w.Unprotected, emptyMap) {
		return nil, errors.New("unprotected header is not empty")
	}
	var ph protectedWire
	if err := decMode.Unmarshal(w.Protected, &ph); err != nil {
		return nil, fmt.Errorf("protected header: %w", err)
	}
	if ph.Alg != int64(cose.AlgorithmES256) {
		return nil, fmt.Errorf("protected header: alg %d, want ES256 (-7)", ph.Alg)
	}
	claims, err := parseClaims(w.Payload)
	if err != nil {
		return nil, err
	}
	var cert *x509.Certificate
	var aliasKey *ecdsa.PublicKey
	var certified dice.Measurements
	switch {
	case claims.TPM != nil && ph.X5Chain != nil:
		return nil, errors.New("protected header: x5chain in a token with the TPM claim")
	case claims.TPM == nil:
		if cert, aliasKey, certified, err = parseAliasCert(ph.X5Chain); err != nil {
			return nil, err
		}
	}
	deviceKey, err := parseDeviceKey(claims.DeviceKey)
	if err != nil {
		return nil, err
	}
	if len(w.Signature) != 64 {
		return nil, fmt.Errorf("signature is %d bytes, want 64", len(w.Signature))
	}
	// One token, one encoding: re-encode what was read and insist on the same bytes.
	if again, err := encodeSign1(ph, w.Payload, w.Signature); err != nil || !bytes.Equal(again, b) {
		return nil, errors.New("COSE_Sign1 is not in core deterministic encoding")
	}
	// Signatures are checked by go-cose, from its own reading of the same bytes.
	msg := cose.NewSign1Message()
	if err := msg.UnmarshalCBOR(b); err != nil {
		return nil, err
	}
	return &Evidence{
		Claims:    claims,
		AliasCert: cert,
		DeviceID:  ident.DeviceIDFromPublicKey(claims.DeviceKey),
		deviceKey: deviceKey,
		aliasKey:  aliasKey,
		certified: certified,
		msg:       msg,
	}, nil
}

// parseAliasCert reads the x5chain header's Alias certificate, its key and its measurements.
func parseAliasCert(der []byte) (*x509.Certificate, *ecdsa.PublicKey, dice.Measurements, error) {
	if der == nil {
		return nil, nil, dice.Measurements{}, errors.New("protected header: x5chain missing")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, dice.Measurements{}, fmt.Errorf("alias certificate: %v", err)
	}
	aliasKey, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || aliasKey.Curve != elliptic.P256() {
		return nil, nil, dice.Measurements{}, errors.New("alias certificate: key is not ECDSA P-256")
	}
	certified, err := dice.FromCertificate(cert)
	if err != nil {
		return nil, nil, dice.Measurements{}, fmt.Errorf("alias certificate: %v", err)
	}
	return cert, aliasKey, certified, nil
}

// SigningKey is the key that signed the token, once [Evidence.Verify] has returned nil: the
// Alias key, or the TPM signing key. The device certificate is issued for it.
func (e *Evidence) SigningKey() *ecdsa.PublicKey { return e.aliasKey }

// encodeSign1 encodes a token from its parts, as Sign (by way of go-cose) does.
func encodeSign1(ph protectedWire, payload, sig []byte) ([]byte, error) {
	protected, err := encMode.Marshal(ph)
	if err != nil {
		return nil, err
	}
	return encMode.Marshal(cbor.Tag{Number: 18, Content: sign1Wire{
		Protected:   protected,
		Unprotected: emptyMap,
		Payload:     payload,
		Signature:   sig,
	}})
}

// Verify checks, in this order, that
//
//  1. the Alias certificate is issued by the DeviceID key in the claims — signed by it with
//     ECDSA-SHA256, naming its device ID as issuer, for a non-CA key usable for signatures —
//     else [ErrAliasNotCertified];
//  2. the token is signed with the Alias certificate's key, else [ErrBadSignature];
//  3. the measurements claimed equal those in the certificate's TcbInfo, mode included, else
//     [ErrMeasurementMismatch].
//
// It does not check the nonce, the time, or whether the device and its measurements are known:
// that is the verifier's appraisal.
func (e *Evidence) Verify() error {
	if e != nil && e.msg != nil && e.Claims.TPM != nil {
		return e.verifyTPM()
	}
	if e == nil || e.msg == nil || e.AliasCert == nil {
		return fmt.Errorf("%w: evidence not made by Parse", ErrMalformed)
	}
	cert := e.AliasCert
	digest := sha256.Sum256(cert.RawTBSCertificate)
	if cert.SignatureAlgorithm != x509.ECDSAWithSHA256 || !ecdsa.VerifyASN1(e.deviceKey, digest[:], cert.Signature) {
		return fmt.Errorf("%w: certificate signature does not verify with the device key", ErrAliasNotCertified)
	}
	if cert.Issuer.CommonName != e.DeviceID.String() {
		return fmt.Errorf("%w: certificate issuer is not the device", ErrAliasNotCertified)
	}
	if !cert.BasicConstraintsValid || cert.IsCA || cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: certificate is not an Alias certificate (CA or no digitalSignature)", ErrAliasNotCertified)
	}
	verifier, err := cose.NewVerifier(cose.AlgorithmES256, e.aliasKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if err := e.msg.Verify(nil, verifier); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if e.certified != e.Claims.Measurements {
		return ErrMeasurementMismatch
	}
	return nil
}
