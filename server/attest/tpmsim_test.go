package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/rot/tpm"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/swtpmtest"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/store"
)

// The tests of this file appraise genuine evidence from a TPM simulator, made with the device's
// own TPM package as stage 0 and stage 1 make it, and then the attacks on it.

func TestMain(m *testing.M) { os.Exit(swtpmtest.Main(m)) }

const runtimePCR = 15

// tpmDevice is a device whose root of trust is a simulated TPM: its AK, the runtime PCR with
// its event log, and a signing key certified by the AK.
type tpmDevice struct {
	tpm *tpm.TPM
	ak  *tpm.AK
	key *tpm.Key
	ek  []byte
	id  ident.DeviceID
	log tpm.Log
	m   dice.Measurements
}

// newTPMDevice provisions the simulator's AK and measures the given runtimes into the PCR, as
// stage 0 does at each boot since the TPM's reset; the last one is the running runtime.
func newTPMDevice(t *testing.T, sim *swtpmtest.Sim, runtimes ...[]byte) *tpmDevice {
	t.Helper()
	tp, err := tpm.Open(sim.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	p, err := tp.Provision()
	if err != nil {
		t.Fatal(err)
	}
	d := &tpmDevice{tpm: tp, log: tpm.Log{PCR: runtimePCR}}
	if d.ak, err = tp.LoadAK(p.AK); err != nil {
		t.Fatal(err)
	}
	if d.ek, err = tp.EKCertificate(); err != nil {
		t.Fatal(err)
	}
	d.id = d.ak.DeviceID()
	for _, r := range runtimes {
		d.m = rot.Inputs{Code: sha512.Sum512(r), Mode: rot.ModeNormal}.Measurements()
		d.measure(t, d.m)
	}
	d.newKey(t)
	return d
}

// newKey makes the signing key for the PCR's present value, as stage 1 does at its start, in
// place of the one it had (a simulator has room for few loaded objects).
func (d *tpmDevice) newKey(t *testing.T) {
	t.Helper()
	if d.key != nil {
		d.key.Close()
	} else {
		t.Cleanup(func() { d.key.Close() })
	}
	var err error
	if d.key, err = d.ak.NewKey(runtimePCR); err != nil {
		t.Fatal(err)
	}
}

// measure extends the PCR with m's record and logs it, as stage 0 does.
func (d *tpmDevice) measure(t *testing.T, m dice.Measurements) {
	t.Helper()
	rec := tpm.Record(m)
	if err := d.tpm.ExtendPCR(runtimePCR, sha256.Sum256(rec)); err != nil {
		t.Fatal(err)
	}
	d.log.Events = append(d.log.Events, rec)
}

// challenge asks the service for a nonce and a credential challenge, as the device's nonce
// request does.
func (d *tpmDevice) challenge(t *testing.T, e *env) api.NonceResponse {
	t.Helper()
	resp, err := e.svc.NonceTPM(context.Background(), d.id, api.TPMKeys{EKCertificate: d.ek, AKPublic: d.ak.Public})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// claim is the TPM claim of genuine evidence for the challenge: the recovered secret, a quote
// of the PCR over the nonce, the log and the signing key's certification.
func (d *tpmDevice) claim(t *testing.T, resp api.NonceResponse) *evidence.TPM {
	t.Helper()
	secret, err := d.ak.Activate(resp.TPMCredential.Credential, resp.TPMCredential.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return d.claimWith(t, resp.Nonce, secret)
}

// claimWith is claim with the activation secret given.
func (d *tpmDevice) claimWith(t *testing.T, nonce, secret []byte) *evidence.TPM {
	t.Helper()
	quote, sig, err := d.ak.Quote(nonce, runtimePCR)
	if err != nil {
		t.Fatal(err)
	}
	value, err := d.tpm.ReadPCR(runtimePCR)
	if err != nil {
		t.Fatal(err)
	}
	cp := d.key.Certification
	return &evidence.TPM{EKCertificate: d.ek, AKPublic: d.ak.Public, Activation: secret, PCR: runtimePCR,
		PCRValue: value[:], Quote: quote, QuoteSignature: sig, EventLog: d.log.Marshal(),
		KeyPublic: cp.Public, KeyCreateData: cp.CreateData, KeyCreateAttestation: cp.CreateAttestation,
		KeyCreateSignature: cp.CreateSignature}
}

// sign makes the token of claim for nonce, signed in the TPM by the signing key.
func (d *tpmDevice) sign(t *testing.T, e *env, nonce []byte, m dice.Measurements, claim *evidence.TPM) []byte {
	t.Helper()
	c := evidence.Claims{Nonce: nonce, DeviceKey: d.ak.SPKI, IssuedAt: e.now, Measurements: m, TPM: claim}
	tok, err := evidence.SignTPM(c, d.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// evidence is the device's genuine token for a fresh challenge.
func (d *tpmDevice) evidence(t *testing.T, e *env) []byte {
	t.Helper()
	resp := d.challenge(t, e)
	return d.sign(t, e, resp.Nonce, d.m, d.claim(t, resp))
}

// trustTestCA adds the CA of the simulators' EK certificates, as `rampart tpm-ca add` does.
func (e *env) trustTestCA(t *testing.T) {
	t.Helper()
	caPEM := swtpmtest.CAPEM(t)
	// The test CA and EK certificates may be newer than the env's clock: they are made when the
	// test binary's first simulator starts.
	e.now = time.Now().UTC()
	certs, err := attest.ParseTPMCAs(caPEM, e.now)
	if err != nil {
		t.Fatal(err)
	}
	err = e.st.Update(context.Background(), func(tx *store.Tx) error {
		for _, c := range certs {
			err := tx.AddTPMCA(store.TPMCARecord{TPMCA: api.TPMCA{ID: ident.NewID(), Subject: c.Cert.Subject.String(),
				Fingerprint: c.Fingerprint, Root: c.Root, NotAfter: c.Cert.NotAfter, AddedAt: e.now, AddedBy: "operator"},
				CertDER: c.Cert.Raw})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) claimTPM(t *testing.T, d *tpmDevice) {
	t.Helper()
	e.claim(t, &device{id: d.id})
}

// TestTPMEvidenceFromSimulatorPasses: genuine evidence from a TPM passes, the certificate is for
// the TPM's signing key, and the device is recorded with the TPM root and its EK.
func TestTPMEvidenceFromSimulatorPasses(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.trustTestCA(t)
		d := newTPMDevice(t, swtpmtest.New(t), runtime)
		e.claimTPM(t, d)
		resp, err := e.svc.Attest(context.Background(), d.evidence(t, e), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode([]byte(resp.Certificate))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !d.key.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
			t.Error("the certificate is not for the TPM's signing key")
		}
		var got api.Device
		e.st.View(context.Background(), func(tx *store.Tx) error {
			got, _ = tx.Device(e.ten.ID, d.id)
			return nil
		})
		if got.LastAttestResult != api.AttestPass || got.RootOfTrust != api.RootOfTrustTPM || len(got.EKFingerprint) != 64 {
			t.Errorf("device record after pass: %+v", got)
		}
	})
}

// TestReplayedQuoteIsRefused: a quote the TPM made for an earlier nonce (when the PCR held what
// the service accepts) put into new evidence, with everything else fresh, is refused: the quote
// is not over this nonce.
func TestReplayedQuoteIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.trustTestCA(t)
		d := newTPMDevice(t, swtpmtest.New(t), runtime)
		e.claimTPM(t, d)
		old := d.claim(t, d.challenge(t, e))
		resp := d.challenge(t, e)
		fresh := d.claim(t, resp)
		fresh.Quote, fresh.QuoteSignature = old.Quote, old.QuoteSignature
		e.wantFailure(t, d.sign(t, e, resp.Nonce, d.m, fresh), api.ReasonBadQuote)

		// The same, after the device ran a runtime that is not a release: the old quote of the
		// PCR before it, and the log and PCR value of then.
		d.measure(t, rot.Inputs{Code: sha512.Sum512([]byte("a runtime with a backdoor")), Mode: rot.ModeNormal}.Measurements())
		d.newKey(t)
		resp = d.challenge(t, e)
		fresh = d.claim(t, resp)
		fresh.Quote, fresh.QuoteSignature, fresh.PCRValue, fresh.EventLog = old.Quote, old.QuoteSignature, old.PCRValue, old.EventLog
		e.wantFailure(t, d.sign(t, e, resp.Nonce, d.m, fresh), api.ReasonBadQuote)
	})
}

// TestEventLogNotMatchingPCRsIsRefused: an event log that does not replay to the quoted PCR is
// refused, whether edited to name a published runtime instead of the one measured, truncated
// to hide the last runtime, given an event the PCR never had, or kept across a reset of the
// TPM that cleared the PCR.
func TestEventLogNotMatchingPCRsIsRefused(t *testing.T) {
	published := rot.Inputs{Code: sha512.Sum512(runtime), Mode: rot.ModeNormal}.Measurements()
	backdoor := rot.Inputs{Code: sha512.Sum512([]byte("a runtime with a backdoor")), Mode: rot.ModeNormal}.Measurements()
	for name, tc := range map[string]struct {
		runtimes [][]byte
		// attack changes the device's log (and what it claims) before the evidence is made.
		attack func(t *testing.T, d *tpmDevice, sim *swtpmtest.Sim)
	}{
		"edited": {[][]byte{[]byte("a runtime with a backdoor")}, func(t *testing.T, d *tpmDevice, _ *swtpmtest.Sim) {
			d.log.Events[0], d.m = tpm.Record(published), published
		}},
		"truncated": {[][]byte{runtime, []byte("a runtime with a backdoor")}, func(t *testing.T, d *tpmDevice, _ *swtpmtest.Sim) {
			d.log.Events, d.m = d.log.Events[:1], published
		}},
		"an event the PCR never had": {[][]byte{runtime}, func(t *testing.T, d *tpmDevice, _ *swtpmtest.Sim) {
			d.log.Events = append([][]byte{tpm.Record(backdoor)}, d.log.Events...)
		}},
		"empty": {[][]byte{runtime}, func(t *testing.T, d *tpmDevice, _ *swtpmtest.Sim) {
			d.log.Events = nil
		}},
		"kept across a reset": {[][]byte{runtime}, func(t *testing.T, d *tpmDevice, sim *swtpmtest.Sim) {
			sim.Reset(t)
			d.newKey(t) // the old one went with the reset
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, e *env) {
				e.trustTestCA(t)
				sim := swtpmtest.New(t)
				d := newTPMDevice(t, sim, tc.runtimes...)
				e.claimTPM(t, d)
				tc.attack(t, d, sim)
				resp := d.challenge(t, e)
				claim := d.claim(t, resp)
				e.wantFailure(t, d.sign(t, e, resp.Nonce, d.m, claim), api.ReasonEventLogMismatch)
			})
		})
	}
}

// TestEvidenceFromAnotherTPMThanChallengedIsRefused: a TPM whose AK claims another TPM's
// endorsement key (whose certificate is public) cannot answer the credential challenge: the
// service encrypted it to the named EK, which only the other TPM holds. Neither a guessed
// secret nor the secret of a challenge made to its own EK passes.
func TestEvidenceFromAnotherTPMThanChallengedIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.trustTestCA(t)
		victim := newTPMDevice(t, swtpmtest.New(t), runtime)
		d := newTPMDevice(t, swtpmtest.Start(t, swtpmtest.B), runtime)
		e.claimTPM(t, d)

		resp, err := e.svc.NonceTPM(context.Background(), d.id, api.TPMKeys{EKCertificate: victim.ek, AKPublic: d.ak.Public})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ak.Activate(resp.TPMCredential.Credential, resp.TPMCredential.Secret); err == nil {
			t.Fatal("a TPM activated a credential made for another TPM's EK")
		}
		guess := make([]byte, evidence.TPMActivationSize)
		rand.Read(guess)
		claim := d.claimWith(t, resp.Nonce, guess)
		claim.EKCertificate = victim.ek
		e.wantFailure(t, d.sign(t, e, resp.Nonce, d.m, claim), api.ReasonActivationFailed)

		own := d.challenge(t, e) // to its own EK, which it can answer
		claim = d.claim(t, own)
		claim.EKCertificate = victim.ek
		e.wantFailure(t, d.sign(t, e, own.Nonce, d.m, claim), api.ReasonActivationFailed)
	})
}

// TestUnpublishedRuntimeRunSinceResetIsRefused: a runtime that is not a release, run and then
// replaced by a published one without a reset of the TPM, is still in the PCR and its log: the
// device is refused until it restarts, which resets the TPM.
func TestUnpublishedRuntimeRunSinceResetIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.trustTestCA(t)
		sim := swtpmtest.New(t)
		d := newTPMDevice(t, sim, []byte("a runtime with a backdoor"), runtime)
		e.claimTPM(t, d)
		e.wantFailure(t, d.evidence(t, e), api.ReasonUnknownRuntime)

		sim.Reset(t)
		d.log.Events = nil
		d.measure(t, d.m)
		d.newKey(t)
		if _, err := e.svc.Attest(context.Background(), d.evidence(t, e), "192.0.2.1"); err != nil {
			t.Fatalf("after a reset: %v", err)
		}
	})
}
