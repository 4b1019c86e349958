package agent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// Identity is who stage 1 is, once it has checked what stage 0 handed it: the device, the
// measurements of this boot, and the Alias key, re-derived from CDI_Attest. Only [NewIdentity]
// makes one, so holding an Identity means the checks passed.
type Identity struct {
	DeviceID     ident.DeviceID
	DeviceKey    []byte // DeviceID public key, DER SubjectPublicKeyInfo
	Slot         state.Slot
	Measurements dice.Measurements
	AliasCert    []byte // DER; nil for a TPM device
	Root         string // state.RootSoftware or state.RootTPM

	// signer is the key of the evidence and of the device certificate: the Alias key, or the
	// TPM signing key.
	signer        crypto.Signer
	tpm           *tpmRoot             // nil for the software root
	storageKey    []byte               // see StorageKey
	claimVerifier *ident.ClaimVerifier // nil if stage 0 handed none
}

// NewIdentity checks a handoff against itself and against device.json, then zeroes its CDIs.
// It re-derives the Alias key from CDI_Attest and requires that the Alias certificate is for
// that key, is issued by the DeviceID key of the device that dev names, and certifies the
// handed-over measurements, whose configuration must be dev's.
func NewIdentity(h *handoff.Handoff, dev state.Device) (*Identity, error) {
	defer h.Zero()
	key := rot.KeyFromSeed(rot.KeySeed(h.CDIAttest))
	cert, err := x509.ParseCertificate(h.AliasCert)
	if err != nil {
		return nil, fmt.Errorf("handoff: alias certificate: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("handoff: the alias certificate is not for the key derived from CDI_Attest")
	}
	pub, err := x509.ParsePKIXPublicKey(h.DeviceIDKey)
	if dk, ok := pub.(*ecdsa.PublicKey); err != nil || !ok || dk.Curve != elliptic.P256() {
		return nil, errors.New("handoff: the DeviceID key is not an ECDSA P-256 key")
	}
	if err := cert.CheckSignatureFrom(&x509.Certificate{PublicKey: pub, PublicKeyAlgorithm: x509.ECDSA}); err != nil {
		return nil, fmt.Errorf("handoff: the alias certificate is not issued by the DeviceID key: %w", err)
	}
	if id := ident.DeviceIDFromPublicKey(h.DeviceIDKey); id != dev.DeviceID {
		return nil, fmt.Errorf("handoff: DeviceID key of device %s, but device.json names %s", id, dev.DeviceID)
	}
	m, err := h.Measurements.Dice()
	if err != nil {
		return nil, fmt.Errorf("handoff: %w", err)
	}
	certified, err := dice.FromCertificate(cert)
	if err != nil {
		return nil, fmt.Errorf("handoff: alias certificate: %w", err)
	}
	if certified != m {
		return nil, errors.New("handoff: the measurements differ from the alias certificate's")
	}
	if m.Config != dev.ConfigMeasurement() {
		return nil, errors.New("handoff: device.json changed since stage 0 measured it")
	}
	id := &Identity{DeviceID: dev.DeviceID, DeviceKey: h.DeviceIDKey, Slot: h.Slot, Measurements: m,
		AliasCert: h.AliasCert, Root: state.RootSoftware, signer: key, storageKey: softwareStorageKey(h.CDISeal)}
	if len(h.ClaimVerifier) == len(ident.ClaimVerifier{}) {
		id.claimVerifier = (*ident.ClaimVerifier)(h.ClaimVerifier)
	}
	return id, nil
}

// AliasPublicKey returns the public key the device certificate must be for: the Alias key's,
// or the TPM signing key's.
func (id *Identity) AliasPublicKey() crypto.PublicKey { return id.signer.Public() }

// Close releases the TPM's keys (nothing for the software root).
func (id *Identity) Close() error {
	if id.tpm == nil {
		return nil
	}
	return id.tpm.close()
}

// Evidence returns an attestation token answering nonce and listing the installed images,
// signed with the Alias key (DESIGN section 5 step 3), with the proof of the device's claim code
// when stage 0 handed its verifier.
func (id *Identity) Evidence(nonce []byte, now time.Time, images []evidence.Image) ([]byte, error) {
	if id.tpm != nil {
		return nil, errors.New("a TPM device's evidence answers a credential challenge: use TPMEvidence")
	}
	return evidence.Sign(id.claims(nonce, now, images), id.signer, id.AliasCert)
}

// claims are the claims of both roots' evidence.
func (id *Identity) claims(nonce []byte, now time.Time, images []evidence.Image) evidence.Claims {
	c := evidence.Claims{Nonce: nonce, DeviceKey: id.DeviceKey, IssuedAt: now, Measurements: id.Measurements, Images: images}
	if id.claimVerifier != nil {
		proof := ident.ClaimProof(*id.claimVerifier, nonce, id.DeviceID)
		c.ClaimProof = proof[:]
	}
	return c
}

// Certificate is a device certificate that has been checked to be for this boot's Alias key,
// issued to this device, and to chain to the CA chain that came with it.
type Certificate struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
	PEM   []byte // the leaf, then the chain: cert.pem
}

// ErrWrongKey is returned by [Identity.ParseCertificate] for a certificate of another key: one
// issued to an earlier runtime (or, on a TPM, to an earlier start of stage 1), or a certificate
// that is not this device's at all.
var ErrWrongKey = errors.New("the certificate is not for this boot's signing key (the Alias key, or the TPM key made at this start)")

// ParseCertificate parses and checks a PEM device certificate followed by its CA chain. The
// chain is checked at now, or at the nearest moment within the leaf's validity, since whether
// the certificate is current is for the schedule to decide ([Decide]).
func (id *Identity) ParseCertificate(pemChain []byte, now time.Time) (*Certificate, error) {
	var certs []*x509.Certificate
	rest := pemChain
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("certificate chain holds a %q PEM block", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate chain: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		return nil, errors.New("certificate chain: want the device certificate and at least one CA certificate")
	}
	leaf := certs[0]
	if pub, ok := id.signer.Public().(*ecdsa.PublicKey); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, ErrWrongKey
	}
	if leaf.Subject.CommonName != string(id.DeviceID) {
		return nil, fmt.Errorf("the certificate names %.64q, not this device", leaf.Subject.CommonName)
	}
	roots := x509.NewCertPool()
	for _, c := range certs[1:] {
		roots.AddCert(c)
	}
	at := now
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore
	} else if at.After(leaf.NotAfter) {
		at = leaf.NotAfter
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the certificate does not chain to its CA chain: %w", err)
	}
	return &Certificate{Leaf: leaf, Chain: certs[1:], PEM: pemChain}, nil
}

// tlsCertificate is c with the Alias key, for mutual TLS, or with the TPM signing key, which
// signs in the TPM. The Alias key lives only in memory: each boot derives it again from
// CDI_Attest.
func (id *Identity) tlsCertificate(c *Certificate) *tls.Certificate {
	tc := &tls.Certificate{Certificate: [][]byte{c.Leaf.Raw}, PrivateKey: id.signer, Leaf: c.Leaf}
	for _, ca := range c.Chain {
		tc.Certificate = append(tc.Certificate, ca.Raw)
	}
	return tc
}
