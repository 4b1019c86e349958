package tpm_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/legacy/tpm2/credactivation"

	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
)

func TestMain(m *testing.M) { os.Exit(swtpmtest.Main(m)) }

func open(t *testing.T, sim *swtpmtest.Sim) *tpm.TPM {
	t.Helper()
	tp, err := tpm.Open(sim.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func provision(t *testing.T, tp *tpm.TPM) (tpm.Provisioned, *tpm.AK) {
	t.Helper()
	p, err := tp.Provision()
	if err != nil {
		t.Fatal(err)
	}
	ak, err := tp.LoadAK(p.AK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ak.Close() })
	return p, ak
}

func measurements(b byte) dice.Measurements {
	var m dice.Measurements
	m.Runtime[0], m.Config[0], m.Authority[0], m.Mode = b, b+1, b+2, dice.ModeNormal
	return m
}

// The whole device side of a TPM attestation, checked with go-attestation's verifiers: the
// credential activation, the quote over the nonce, the event log replayed against the quoted
// PCR, and the signing key certified by the AK and signing through the TPM.
func TestAttestationWithSimulator(t *testing.T) {
	t.Parallel()
	tp := open(t, swtpmtest.New(t))
	p, ak := provision(t, tp)

	// Device ID: SHA-256 of the AK's SPKI, and the AK stays the same when loaded again.
	ak2, err := tp.LoadAK(p.AK)
	if err != nil {
		t.Fatal(err)
	}
	if ak2.DeviceID() != ak.DeviceID() || !bytes.Equal(ak2.Public, ak.Public) {
		t.Fatal("the AK loaded twice differs")
	}
	ak2.Close()
	akPub, err := attest.ParseAKPublic(ak.Public)
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(akPub.Public)
	if !bytes.Equal(spki, ak.SPKI) {
		t.Fatal("the AK's SPKI is not that of its public area")
	}

	// Credential activation, as the service makes the challenge.
	ekDER, err := tp.EKCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ek, err := attest.ParseEKCertificate(ekDER)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := tpm2.DecodePublic(ak.Public)
	if err != nil {
		t.Fatal(err)
	}
	name, err := pub.Name()
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	cred, encSecret, err := credactivation.Generate(name.Digest, ek.PublicKey, 16, secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ak.Activate(cred, encSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, secret) {
		t.Fatal("activation recovered another secret")
	}

	// Two measurements into PCR 15, the log, and a quote.
	l := &tpm.Log{PCR: 15}
	for _, m := range []dice.Measurements{measurements(1), measurements(7)} {
		rec := tpm.Record(m)
		l.Events = append(l.Events, rec)
		if err := tp.ExtendPCR(15, sha256.Sum256(rec)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := tp.ReadPCR(15)
	if err != nil {
		t.Fatal(err)
	}
	if v != l.Replay() {
		t.Fatal("the PCR is not the log's replay")
	}
	nonce := []byte("a nonce of the service")
	quote, sig, err := ak.Quote(nonce, 15)
	if err != nil {
		t.Fatal(err)
	}
	pcrs := []attest.PCR{{Index: 15, Digest: v[:], DigestAlg: crypto.SHA256}}
	if err := akPub.Verify(attest.Quote{Quote: quote, Signature: sig}, pcrs, nonce); err != nil {
		t.Fatalf("quote: %v", err)
	}
	if err := akPub.Verify(attest.Quote{Quote: quote, Signature: sig}, pcrs, []byte("another nonce")); err == nil {
		t.Fatal("quote verifies for another nonce")
	}
	el, err := attest.ParseEventLog(l.Marshal())
	if err != nil {
		t.Fatalf("go-attestation cannot parse the log: %v", err)
	}
	events, err := el.Verify(pcrs)
	if err != nil {
		t.Fatalf("go-attestation does not replay the log to the PCR: %v", err)
	}
	if len(events) != 2 || !bytes.Equal(events[1].Data, tpm.Record(measurements(7))) {
		t.Fatalf("go-attestation read %d events", len(events))
	}

	// The signing key: certified by the AK, signs through the TPM.
	key, err := ak.NewKey(15)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	checkCertified(t, key.Certification, akPub.Public.(*ecdsa.PublicKey), v)
	digest := sha256.Sum256([]byte("message"))
	s, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), digest[:], s) {
		t.Fatal("the TPM's signature does not verify")
	}
	if _, err := key.Sign(rand.Reader, make([]byte, 48), crypto.SHA384); err == nil {
		t.Fatal("signed a SHA-384 digest")
	}

	// Another runtime measured: the key of the old one no longer signs.
	if err := tp.ExtendPCR(15, sha256.Sum256([]byte("another runtime"))); err != nil {
		t.Fatal(err)
	}
	if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
		t.Fatal("the signing key signed after the runtime PCR changed")
	}
}

// checkCertified checks the signing key's TPM2_CertifyCreation by the AK: it names the key, is
// over the creation data, which records the PCR's value, and the AK signed it.
func checkCertified(t *testing.T, cp attest.CertificationParameters, ak *ecdsa.PublicKey, pcr [32]byte) {
	t.Helper()
	pub, err := tpm2.DecodePublic(cp.Public)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Attributes&tpm2.FlagUserWithAuth != 0 || len(pub.AuthPolicy) == 0 {
		t.Fatal("the signing key can be used without its PCR policy")
	}
	att, err := tpm2.DecodeAttestationData(cp.CreateAttestation)
	if err != nil {
		t.Fatal(err)
	}
	if att.AttestedCreationInfo == nil {
		t.Fatal("not a certification of creation")
	}
	if ok, err := att.AttestedCreationInfo.Name.MatchesPublic(pub); err != nil || !ok {
		t.Fatal("the certification names another key")
	}
	if d := sha256.Sum256(cp.CreateData); !bytes.Equal(att.AttestedCreationInfo.OpaqueDigest, d[:]) {
		t.Fatal("the certification is of other creation data")
	}
	cd, err := tpm2.DecodeCreationData(cp.CreateData)
	if err != nil {
		t.Fatal(err)
	}
	if d := sha256.Sum256(pcr[:]); !bytes.Equal(cd.PCRDigest, d[:]) {
		t.Fatal("the creation data does not record the runtime PCR")
	}
	sig, err := tpm2.DecodeSignature(bytes.NewBuffer(cp.CreateSignature))
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(cp.CreateAttestation)
	if sig.ECC == nil || !ecdsa.Verify(ak, d[:], sig.ECC.R, sig.ECC.S) {
		t.Fatal("the certification is not signed by the AK")
	}
}

// The claim code comes from a key only the TPM can use: stable on the TPM, not computable on
// another.
func TestClaimCodeStaysInTheTPM(t *testing.T) {
	t.Parallel()
	tp := open(t, swtpmtest.New(t))
	p, _ := provision(t, tp)
	c1, err := tp.ClaimCode(p.ClaimKeyPublic, p.ClaimKeyPrivate)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := tp.ClaimCode(p.ClaimKeyPublic, p.ClaimKeyPrivate)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 || c1 == "" {
		t.Fatalf("claim codes %q and %q", c1, c2)
	}
	other := open(t, swtpmtest.Start(t, swtpmtest.B))
	provision(t, other) // the other TPM has an SRK too
	if _, err := other.ClaimCode(p.ClaimKeyPublic, p.ClaimKeyPrivate); err == nil {
		t.Fatal("another TPM computed the claim code")
	}
}

// TestCopiedStateFolderCannotAttest: what the state folder keeps of a TPM device (the AK and
// claim key blobs) is useless on another TPM: the AK does not load, so nothing can be quoted,
// activated or certified with it.
func TestCopiedStateFolderCannotAttest(t *testing.T) {
	t.Parallel()
	p, _ := provision(t, open(t, swtpmtest.New(t)))
	other := open(t, swtpmtest.Start(t, swtpmtest.B))
	if _, err := other.LoadAK(p.AK); err == nil || !strings.Contains(err.Error(), "another TPM") {
		t.Fatalf("the AK of one TPM loaded in another: %v", err)
	}
}

// Reset mid-boot: the PCR goes back to zero, so a log that was made before no longer replays
// to it.
func TestResetClearsRuntimePCR(t *testing.T) {
	t.Parallel()
	sim := swtpmtest.New(t)
	tp := open(t, sim)
	rec := tpm.Record(measurements(3))
	if err := tp.ExtendPCR(15, sha256.Sum256(rec)); err != nil {
		t.Fatal(err)
	}
	sim.Reset(t)
	v, err := tp.ReadPCR(15)
	if err != nil {
		t.Fatal(err)
	}
	if v != [32]byte{} {
		t.Fatal("PCR 15 survived a reset")
	}
}
