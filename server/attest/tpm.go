package attest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2/credactivation"
	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// # The TPM root of trust
//
// A device whose root of trust is a TPM sends its endorsement key (EK) certificate and its
// attestation key (AK) with the nonce request. The service answers with a credential challenge
// (TPM2_MakeCredential): an activation secret encrypted to the EK for the AK's name, which only
// the TPM holding both keys can recover. Like the nonce, it is stateless: the secret is
//
//	HMAC-SHA-256(key, "rampart tpm activation v1\x00" ‖ nonce ‖ AK name ‖ SHA-256(EK certificate))
//
// cut to 32 bytes, under a key derived from the key-encryption key, so the service recomputes it
// from the evidence, which carries the nonce, the AK, the EK certificate and the recovered
// secret. Binding the EK certificate too means the EK the evidence names is the one the secret
// was encrypted to.
//
// The appraisal of TPM evidence adds, after the self-contained checks of format/evidence: the
// activation secret (credential_activation_failed), the EK certificate's chain to a TPM
// manufacturer CA the operator trusts (untrusted_tpm), the same EK as the device had before
// (endorsement_key_changed), and every runtime measured into the PCR since the TPM's reset a
// published release (unknown_runtime). Software evidence fails with tpm_required for a device
// that attested with its TPM before, or in a group that requires a TPM.

// ErrBadTPMKeys is the class of error of a nonce request whose TPM keys are not usable.
var ErrBadTPMKeys = errors.New("TPM keys not usable")

const (
	activationKeyPurpose = "tpm credential activation"
	activationLabel      = "rampart tpm activation v1\x00"
	// credentialBlockSize is the block size of the EK's symmetric cipher: AES-128, as the
	// TCG's default EK templates have it.
	credentialBlockSize = 16
)

func activationSecret(key, nonce []byte, akName []byte, ekCert []byte) []byte {
	ek := sha256.Sum256(ekCert)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(activationLabel))
	m.Write(nonce)
	m.Write(akName)
	m.Write(ek[:])
	return m.Sum(nil)[:evidence.TPMActivationSize]
}

// NonceTPM issues a nonce, as [Service.Nonce], to a device whose root of trust is a TPM, with a
// credential challenge for its keys. The AK must be one that evidence may carry and its SPKI
// must hash to device; the EK certificate must parse and hold an RSA or ECDSA key. Whether the
// EK is trusted is decided at attestation. An error of class ErrBadTPMKeys says why not.
func (s *Service) NonceTPM(ctx context.Context, device ident.DeviceID, keys api.TPMKeys) (api.NonceResponse, error) {
	if n := len(keys.EKCertificate); n == 0 || n > evidence.MaxEKCertificateSize {
		return api.NonceResponse{}, fmt.Errorf("%w: EK certificate is %d bytes, want 1 to %d", ErrBadTPMKeys, n,
			evidence.MaxEKCertificateSize)
	}
	spki, name, err := evidence.TPMAttestationKey(keys.AKPublic)
	if err != nil {
		return api.NonceResponse{}, fmt.Errorf("%w: %v", ErrBadTPMKeys, err)
	}
	if ident.DeviceIDFromPublicKey(spki) != device {
		return api.NonceResponse{}, fmt.Errorf("%w: the device ID is not the SHA-256 of the attestation key", ErrBadTPMKeys)
	}
	ek, err := attest.ParseEKCertificate(keys.EKCertificate)
	if err != nil {
		return api.NonceResponse{}, fmt.Errorf("%w: EK certificate does not parse", ErrBadTPMKeys)
	}
	resp, err := s.Nonce(ctx, device)
	if err != nil {
		return resp, err
	}
	akName, err := name.Encode()
	if err != nil {
		return api.NonceResponse{}, err
	}
	secret := activationSecret(s.activationKey, resp.Nonce, akName, keys.EKCertificate)
	cred, encSecret, err := credactivation.Generate(name, ek.PublicKey, credentialBlockSize, secret)
	if err != nil {
		return api.NonceResponse{}, fmt.Errorf("%w: EK: %v", ErrBadTPMKeys, err)
	}
	resp.TPMCredential = &api.TPMCredential{Credential: cred, Secret: encSecret}
	return resp, nil
}

// rootOfTrust is what the appraisal learns of a device's root of trust.
type rootOfTrust struct {
	name          string // api.RootOfTrust…
	ekFingerprint string // lowercase hex SHA-256 of the EK certificate, for a TPM
}

func evidenceRoot(ev *evidence.Evidence) rootOfTrust {
	if ev.Claims.TPM == nil {
		return rootOfTrust{name: api.RootOfTrustSoftware}
	}
	return rootOfTrust{name: api.RootOfTrustTPM, ekFingerprint: ekFingerprint(ev.Claims.TPM.EKCertificate)}
}

func ekFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// checkRoot appraises the root of trust of a claimed device's evidence (see the package's TPM
// section), reading the trusted TPM CAs and the device's group and earlier runtimes in tx.
func (s *Service) checkRoot(tx *store.Tx, ev *evidence.Evidence, dev api.Device, now time.Time) error {
	if ev.Claims.TPM == nil {
		return checkSoftwareRoot(tx, dev)
	}
	t := ev.Claims.TPM
	_, name, err := evidence.TPMAttestationKey(t.AKPublic)
	if err != nil { // Verify has read it already
		return fail(api.ReasonMalformed, "%v", err)
	}
	akName, err := name.Encode()
	if err != nil {
		return err
	}
	if !hmac.Equal(t.Activation, activationSecret(s.activationKey, ev.Claims.Nonce, akName, t.EKCertificate)) {
		return fail(api.ReasonActivationFailed, "the evidence does not carry the secret of the credential "+
			"challenge for this nonce: ask for a new nonce with the TPM's endorsement and attestation keys, "+
			"and activate the credential with both")
	}
	cas, err := tx.TPMCAs()
	if err != nil {
		return err
	}
	if err := verifyEK(t.EKCertificate, cas, now); err != nil {
		return err
	}
	if fp := ekFingerprint(t.EKCertificate); dev.EKFingerprint != "" && dev.EKFingerprint != fp {
		return fail(api.ReasonEKChanged, "the device attested before with another TPM (endorsement key %s…, now %s…)",
			dev.EKFingerprint[:16], fp[:16])
	}
	return checkEarlierRuntimes(tx, ev)
}

// checkSoftwareRoot refuses software evidence of a device that attested with a TPM before, or
// that is in a group requiring one.
func checkSoftwareRoot(tx *store.Tx, dev api.Device) error {
	if dev.RootOfTrust == api.RootOfTrustTPM {
		return fail(api.ReasonTPMRequired, "the device attested with its TPM before; evidence from the software "+
			"root of trust is refused (was the device initialised again without --rot tpm?)")
	}
	if dev.GroupID == "" {
		return nil
	}
	g, err := tx.Group(dev.TenantID, dev.GroupID)
	if err != nil {
		return err
	}
	if g.RequireTPM {
		return fail(api.ReasonTPMRequired, "device group %s requires a TPM root of trust; initialise the device "+
			"with 'rampart-device init --rot tpm'", g.FullName())
	}
	return nil
}

// checkEarlierRuntimes requires every runtime measured before the running one since the TPM's
// reset to be a published release (withdrawn or not: it is not running any more).
func checkEarlierRuntimes(tx *store.Tx, ev *evidence.Evidence) error {
	boot := ev.BootMeasurements()
	for i, m := range boot[:max(len(boot)-1, 0)] {
		sum := hex.EncodeToString(m.Runtime[:])
		releases, err := tx.RuntimeReleasesBySHA512(sum)
		if err != nil {
			return err
		}
		if len(releases) == 0 {
			return fail(api.ReasonUnknownRuntime, "runtime %d of %d measured since the TPM was reset (SHA-512 %s…) "+
				"is not a published release; restart the device to reset the TPM", i+1, len(boot), sum[:16])
		}
	}
	return nil
}

// Object identifiers of extensions that TPM endorsement-key certificates mark critical and Go's
// x509 does not handle (it handles a subjectAltName only when it has a DNS name, e-mail
// address, IP address or URI; an EK certificate's names the TPM's manufacturer, model and
// version as a directoryName, TCG EK Credential Profile section 3.2.9), and that the appraisal
// does not rely on.
var ekCriticalExtensions = []asn1.ObjectIdentifier{
	{2, 5, 29, 17}, // subjectAltName
	{2, 5, 29, 9},  // subjectDirectoryAttributes: the TPM specification it implements
}

// verifyEK checks that an EK certificate chains, through the trusted intermediates, to a
// trusted root, valid at now.
func verifyEK(der []byte, cas []store.TPMCARecord, now time.Time) error {
	cert, err := attest.ParseEKCertificate(der)
	if err != nil {
		return fail(api.ReasonUntrustedTPM, "the endorsement key certificate does not parse")
	}
	cert.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(cert.UnhandledCriticalExtensions),
		func(oid asn1.ObjectIdentifier) bool {
			return slices.ContainsFunc(ekCriticalExtensions, oid.Equal)
		})
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		ca, err := x509.ParseCertificate(c.CertDER)
		if err != nil {
			return fmt.Errorf("trusted TPM CA %s: %w", c.ID, err)
		}
		if c.Root {
			roots.AddCert(ca)
		} else {
			intermediates.AddCert(ca)
		}
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fail(api.ReasonUntrustedTPM, "the TPM's endorsement key certificate (issuer %q) does not chain to a "+
			"TPM manufacturer CA the operator trusts; the operator adds one with 'rampart tpm-ca add'",
			clipName(cert.Issuer.String()))
	}
	return nil
}

func clipName(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// deviceAndRoot reads the device of the evidence and appraises its root of trust (checkRoot):
// a *Failure of the root is returned apart from the store's errors, since the claim is checked
// first.
func (s *Service) deviceAndRoot(tx *store.Tx, ev *evidence.Evidence, now time.Time) (api.Device, error, error) {
	dev, err := tx.DeviceAnyTenant(ev.DeviceID)
	if err != nil {
		return dev, nil, err
	}
	err = s.checkRoot(tx, ev, dev, now)
	var f *Failure
	if err != nil && !errors.As(err, &f) {
		return dev, nil, err
	}
	return dev, err, nil
}

// checkClaimAndRoot checks the claim code when checkCode (checkClaim), then returns the root's
// failure, if any.
func (s *Service) checkClaimAndRoot(ctx context.Context, ev *evidence.Evidence, dev api.Device,
	verifier ident.ClaimVerifier, checkCode bool, now time.Time, rootFail error) error {
	if checkCode {
		if err := s.checkClaim(ctx, ev, dev, verifier, now); err != nil {
			return err
		}
	}
	return rootFail
}
