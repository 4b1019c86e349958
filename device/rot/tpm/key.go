package tpm

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// The signing key's template: ECDSA P-256 with SHA-256, made in the TPM and bound to it
// (fixedTPM, fixedParent, sensitiveDataOrigin), usable only through its policy (no userWithAuth):
// PolicyPCR on the runtime PCR's value when it was made.
func signingKeyTemplate(policy []byte) tpm2.Public {
	return tpm2.Public{
		Type:       tpm2.AlgECC,
		NameAlg:    tpm2.AlgSHA256,
		Attributes: tpm2.FlagFixedTPM | tpm2.FlagFixedParent | tpm2.FlagSensitiveDataOrigin | tpm2.FlagSign,
		AuthPolicy: policy,
		ECCParameters: &tpm2.ECCParams{
			Sign:    &tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256},
			CurveID: tpm2.CurveNISTP256,
		},
	}
}

var ecdsaSHA256 = tpm2.SigScheme{Alg: tpm2.AlgECDSA, Hash: tpm2.AlgSHA256}

// Key is a loaded signing key, certified by the AK. It is a crypto.Signer.
type Key struct {
	t      *TPM
	handle tpmutil.Handle
	pub    *ecdsa.PublicKey
	pcr    tpm2.PCRSelection
	// Certification is the key's public area, its creation data and their certification by the
	// AK (TPM2_CertifyCreation). The creation data records the runtime PCR's value when the key
	// was made.
	Certification attest.CertificationParameters
}

// akBlob is the part of go-attestation's AK encoding that loading the AK needs.
type akBlob struct {
	Public  []byte
	KeyBlob []byte
}

// NewKey makes an ECDSA P-256 signing key in the TPM under the SRK, usable only while the PCR
// holds the value it holds now (PolicyPCR), and has the AK certify its creation
// (TPM2_CertifyCreation), with the PCR's value in the creation data. The key stays loaded
// until [Key.Close].
func (a *AK) NewKey(pcr int) (*Key, error) {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	rw := a.t.rwc
	sel := tpm2.PCRSelection{Hash: tpm2.AlgSHA256, PCRs: []int{pcr}}
	policy, err := pcrPolicy(rw, sel)
	if err != nil {
		return nil, fmt.Errorf("make the signing key: %w", err)
	}
	priv, pub, createData, createHash, ticket, err := tpm2.CreateKey(rw, tpmutil.Handle(srkHandle), sel, "", "", signingKeyTemplate(policy))
	if err != nil {
		return nil, fmt.Errorf("make the signing key: %w", err)
	}
	h, _, err := tpm2.Load(rw, tpmutil.Handle(srkHandle), "", pub, priv)
	if err != nil {
		return nil, fmt.Errorf("load the signing key: %w", err)
	}
	fail := func(err error) (*Key, error) {
		tpm2.FlushContext(rw, h)
		return nil, err
	}
	// go-attestation keeps the AK's handle to itself: load the AK a second time to certify.
	var blob akBlob
	if err := json.Unmarshal(a.blob, &blob); err != nil {
		return fail(fmt.Errorf("certify the signing key: the AK blob: %w", err))
	}
	akh, _, err := tpm2.Load(rw, tpmutil.Handle(srkHandle), "", blob.Public, blob.KeyBlob)
	if err != nil {
		return fail(fmt.Errorf("certify the signing key: load the AK: %w", err))
	}
	att, sig, err := tpm2.CertifyCreation(rw, "", h, akh, nil, createHash, ecdsaSHA256, ticket)
	tpm2.FlushContext(rw, akh)
	if err != nil {
		return fail(fmt.Errorf("certify the signing key: %w", err))
	}
	tp, err := tpm2.DecodePublic(pub)
	if err != nil {
		return fail(fmt.Errorf("make the signing key: %w", err))
	}
	k, err := tp.Key()
	if err != nil {
		return fail(fmt.Errorf("make the signing key: %w", err))
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return fail(errors.New("make the signing key: not an ECDSA key"))
	}
	return &Key{t: a.t, handle: h, pub: ek, pcr: sel, Certification: attest.CertificationParameters{
		Public: pub, CreateData: createData, CreateAttestation: att, CreateSignature: sig,
	}}, nil
}

// pcrPolicy computes the digest of PolicyPCR over the PCR's current value, in a trial session.
func pcrPolicy(rw io.ReadWriter, sel tpm2.PCRSelection) ([]byte, error) {
	s, _, err := tpm2.StartAuthSession(rw, tpm2.HandleNull, tpm2.HandleNull, make([]byte, 16), nil,
		tpm2.SessionTrial, tpm2.AlgNull, tpm2.AlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("PCR policy: %w", err)
	}
	defer tpm2.FlushContext(rw, s)
	if err := tpm2.PolicyPCR(rw, s, nil, sel); err != nil {
		return nil, fmt.Errorf("PCR policy: %w", err)
	}
	return tpm2.PolicyGetDigest(rw, s)
}

// Close unloads the key.
func (k *Key) Close() error {
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	return tpm2.FlushContext(k.t.rwc, k.handle)
}

// Public returns the key's public key, an *ecdsa.PublicKey.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Sign signs a SHA-256 digest (opts nil or crypto.SHA256) in the TPM, in a policy session that proves the PCR still holds
// the runtime the key was made for, and returns an ASN.1 ECDSA signature: Key is a
// crypto.Signer for TLS and COSE alike. After the PCR changed (another runtime was measured),
// the TPM refuses.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	// opts may be nil, as go-cose passes it: ECDSA signs a digest whatever its hash.
	if (opts != nil && opts.HashFunc() != crypto.SHA256) || len(digest) != crypto.SHA256.Size() {
		return nil, errors.New("TPM signing key: only SHA-256 digests can be signed")
	}
	k.t.mu.Lock()
	defer k.t.mu.Unlock()
	rw := k.t.rwc
	s, _, err := tpm2.StartAuthSession(rw, tpm2.HandleNull, tpm2.HandleNull, make([]byte, 16), nil,
		tpm2.SessionPolicy, tpm2.AlgNull, tpm2.AlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("TPM signing key: %w", err)
	}
	defer tpm2.FlushContext(rw, s)
	if err := tpm2.PolicyPCR(rw, s, nil, k.pcr); err != nil {
		return nil, fmt.Errorf("TPM signing key: %w", err)
	}
	sig, err := tpm2.SignWithSession(rw, s, k.handle, "", digest, nil, &ecdsaSHA256)
	if err != nil {
		return nil, fmt.Errorf("TPM signing key (has the runtime PCR changed since the key was made?): %w", err)
	}
	if sig.ECC == nil {
		return nil, errors.New("TPM signing key: not an ECDSA signature")
	}
	return asn1.Marshal(struct{ R, S *big.Int }{sig.ECC.R, sig.ECC.S})
}
