// Package tpm is Rampart's TPM 2.0 root of trust: the device's identity and the key behind its
// certificate live in a TPM and never leave it, and stage 0 measures the runtime into a PCR.
//
// It speaks to the TPM through go-tpm and go-attestation (RATIONALE.md says why), on a character
// device (/dev/tpmrm0) or the Unix socket of a simulator, and serialises every command of a
// process: one [TPM] is safe for concurrent use, its signer included.
//
// # Keys
//
//   - The attestation key (AK): an ECDSA P-256 restricted signing key, made at init under the
//     storage root key (SRK, persistent handle 0x81000001, made by go-attestation if absent).
//     The state folder keeps only its TPM-wrapped blob, which no other TPM can load. The device
//     ID is the SHA-256 of its DER SubjectPublicKeyInfo.
//   - The claim key: an HMAC-SHA256 key made at init under the SRK, also kept only as its
//     TPM-wrapped blob. The claim code is rendered from the first bytes of
//     HMAC(claim key, "Rampart claim code") ([TPM.ClaimCode]), so the folder alone does not give it.
//   - The signing key: an ECDSA P-256 non-restricted signing key that stage 1 makes at every
//     start ([AK.NewKey]), certified by the AK (TPM2_CertifyCreation). It signs the evidence and
//     is the key of the device certificate; it is never written anywhere, so a runtime cannot
//     use another runtime's key. It has no PCR policy: a process with access to the TPM at the
//     same time as stage 1 could use a loaded key, which the operating system's access control
//     on the TPM device prevents.
//
// # Measured boot
//
// Stage 0 extends one PCR (default [DefaultPCR], SHA-256 bank) with the SHA-256 of the
// runtime's measurement [Record] and keeps the event log ([Log]) in the state folder
// ([Measure] says when it starts a log, appends, or refuses).
package tpm

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpmutil"

	"github.com/rampart-iot/rampart/ident"
)

// DefaultPCR is the PCR the runtime is measured into unless init is told another.
const DefaultPCR = 15

// TPM is an open TPM. Its methods serialise their commands.
type TPM struct {
	mu  sync.Mutex
	rwc io.ReadWriteCloser
	at  *attest.TPM
	tr  transport.TPM
}

// channel is the command channel go-attestation wants: the TPM, without a firmware event log
// (Rampart keeps its own).
type channel struct{ io.ReadWriteCloser }

func (channel) MeasurementLog() ([]byte, error) { return nil, errors.New("no firmware event log") }

// Open opens the TPM at path: a TPM character device (/dev/tpmrm0) or the Unix socket of a
// TPM simulator.
func Open(path string) (*TPM, error) {
	rwc, err := tpmutil.OpenTPM(path)
	if err != nil {
		return nil, fmt.Errorf("open the TPM at %s: %w", path, err)
	}
	at, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: channel{rwc}})
	if err != nil {
		rwc.Close()
		return nil, fmt.Errorf("open the TPM at %s: %w", path, err)
	}
	t := &TPM{rwc: rwc, at: at, tr: transport.FromReadWriter(rwc)}
	// A first command tells a TPM from anything else at that path.
	if _, err := t.ReadPCR(DefaultPCR); err != nil {
		t.Close()
		return nil, fmt.Errorf("open the TPM at %s: %w", path, err)
	}
	return t, nil
}

// Close closes the TPM. Keys loaded through it should be closed first.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.at.Close()
}

// EKCertificate returns the DER certificate of the TPM's RSA endorsement key, which its
// manufacturer (or swtpm_setup's CA) issued.
func (t *TPM) EKCertificate() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	eks, err := t.at.EKs()
	if err != nil {
		return nil, fmt.Errorf("read the endorsement key: %w", err)
	}
	// Activation uses the RSA EK (go-attestation's default, at its usual handle): its
	// certificate is the one the service must challenge.
	for _, ek := range eks {
		if _, ok := ek.Public.(*rsa.PublicKey); ok && ek.Certificate != nil {
			return ek.Certificate.Raw, nil
		}
	}
	return nil, errors.New("the TPM holds no certificate for an RSA endorsement key: its manufacturer did not provision one")
}

func pcrSelection(pcr int) tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(uint(pcr)),
	}}}
}

// ReadPCR reads a PCR's SHA-256 bank.
func (t *TPM) ReadPCR(pcr int) ([32]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var v [32]byte
	rsp, err := tpm2.PCRRead{PCRSelectionIn: pcrSelection(pcr)}.Execute(t.tr)
	if err != nil {
		return v, fmt.Errorf("read PCR %d: %w", pcr, err)
	}
	if len(rsp.PCRValues.Digests) != 1 || len(rsp.PCRValues.Digests[0].Buffer) != len(v) {
		return v, fmt.Errorf("read PCR %d: the TPM has no active SHA-256 bank", pcr)
	}
	copy(v[:], rsp.PCRValues.Digests[0].Buffer)
	return v, nil
}

// ExtendPCR extends a PCR's SHA-256 bank with digest.
func (t *TPM) ExtendPCR(pcr int, digest [32]byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:]}}},
	}.Execute(t.tr)
	if err != nil {
		return fmt.Errorf("extend PCR %d: %w", pcr, err)
	}
	return nil
}

// Provisioned is what init keeps of the TPM's keys: TPM-wrapped blobs that only this TPM can
// load.
type Provisioned struct {
	AK              []byte // go-attestation's AK blob
	ClaimKeyPublic  []byte // TPM2B_PUBLIC contents
	ClaimKeyPrivate []byte // TPM2B_PRIVATE contents, wrapped by the SRK
}

// Provision makes the AK and the claim key.
func (t *TPM) Provision() (Provisioned, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ak, err := t.at.NewAK(&attest.AKConfig{Algorithm: attest.ECDSA})
	if err != nil {
		return Provisioned{}, fmt.Errorf("make the attestation key: %w", err)
	}
	defer ak.Close(t.at)
	blob, err := ak.Marshal()
	if err != nil {
		return Provisioned{}, fmt.Errorf("make the attestation key: %w", err)
	}
	pub, priv, err := t.createClaimKey()
	if err != nil {
		return Provisioned{}, fmt.Errorf("make the claim key: %w", err)
	}
	return Provisioned{AK: blob, ClaimKeyPublic: pub, ClaimKeyPrivate: priv}, nil
}

// AK is the attestation key of a device. It is loaded into the TPM only for the command that
// uses it, so that a TPM without a resource manager (a simulator, /dev/tpm0) keeps its few
// object slots free.
type AK struct {
	t    *TPM
	blob []byte
	// Public is the AK's TPMT_PUBLIC; SPKI its DER SubjectPublicKeyInfo.
	Public, SPKI []byte
}

// LoadAK loads the AK from its blob to check it, and returns it. A blob from another TPM does
// not load.
func (t *TPM) LoadAK(blob []byte) (*AK, error) {
	a := &AK{t: t, blob: blob}
	err := a.with(func(ak *attest.AK) error {
		a.Public = ak.AttestationParameters().Public
		ap, err := attest.ParseAKPublic(a.Public)
		if err != nil {
			return err
		}
		a.SPKI, err = x509.MarshalPKIXPublicKey(ap.Public)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// with loads the AK, runs fn with t.mu held, and unloads the AK.
func (a *AK) with(fn func(*attest.AK) error) error {
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	ak, err := a.t.at.LoadAK(a.blob)
	if err != nil {
		return fmt.Errorf("load the attestation key (was the state folder made with another TPM?): %w", err)
	}
	defer ak.Close(a.t.at)
	return fn(ak)
}

// DeviceID is the SHA-256 of the AK's SubjectPublicKeyInfo.
func (a *AK) DeviceID() ident.DeviceID { return ident.DeviceIDFromPublicKey(a.SPKI) }

// Close releases the AK (it is not kept loaded: nothing to do).
func (a *AK) Close() error { return nil }

// Activate recovers the secret of a credential challenge made for this AK and the TPM's RSA
// endorsement key (TPM2_ActivateCredential).
func (a *AK) Activate(credential, secret []byte) (out []byte, err error) {
	err = a.with(func(ak *attest.AK) error {
		out, err = ak.ActivateCredential(a.t.at, attest.EncryptedCredential{Credential: credential, Secret: secret})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("activate the credential: %w", err)
	}
	return out, nil
}

// Quote quotes the PCR's SHA-256 bank with the nonce as qualifying data, and returns the
// TPMS_ATTEST and its TPMT_SIGNATURE.
func (a *AK) Quote(nonce []byte, pcr int) (quote, signature []byte, err error) {
	var q *attest.Quote
	err = a.with(func(ak *attest.AK) error {
		q, err = ak.QuotePCRs(a.t.at, nonce, attest.HashSHA256, []int{pcr})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("quote PCR %d: %w", pcr, err)
	}
	return q.Quote, q.Signature, nil
}

// FlushTransient unloads every transient object of the TPM. Stage 1 calls it at its start: on
// a TPM without a resource manager (a simulator, /dev/tpm0) the keys of a stage 1 that was
// killed stay loaded and would fill the TPM's few object slots; with /dev/tpmrm0 it sees only
// its own (none).
func (t *TPM) FlushTransient() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(tpm2.TPMHTTransient) << 24,
		PropertyCount: 64}.Execute(t.tr)
	if err != nil {
		return fmt.Errorf("list the TPM's loaded objects: %w", err)
	}
	handles, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return fmt.Errorf("list the TPM's loaded objects: %w", err)
	}
	for _, h := range handles.Handle {
		if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t.tr); err != nil {
			return fmt.Errorf("unload a stale TPM object: %w", err)
		}
	}
	return nil
}
