package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/internal/servicetest"
	"github.com/rampart-iot/rampart/device/state"
)

// dumpHandoff is a stage 1 that stores its handoff in DIR/handoff.out ($3 is the state folder),
// so that the tests start the agent from what the real stage 0 hands over.
const dumpHandoff = "#!/bin/sh\ncat <&3 > \"$3/handoff.out\"\n"

// device is a device initialised against svc and booted once by the real stage 0.
type device struct {
	dir state.Dir
	raw []byte // the handoff stage 0 sent
}

func newDevice(t *testing.T, svc *servicetest.Service) *device {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: svc.URL, ServiceCA: svc.CAPEM, Runtime: strings.NewReader(dumpHandoff)}); err != nil {
		t.Fatal(err)
	}
	d, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatalf("boot: exit %d, %v", code, err)
	}
	raw, err := os.ReadFile(d.Path("handoff.out"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(d.Path("handoff.out"))
	return &device{dir: d, raw: raw}
}

func (d *device) handoff(t *testing.T) *handoff.Handoff {
	t.Helper()
	h, err := handoff.Read(bytes.NewReader(d.raw))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// agent starts stage 1 of d as after a boot.
func (d *device) agent(t *testing.T, opt Options) *Agent {
	t.Helper()
	opt.Once = true
	a, err := New(d.dir, d.handoff(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func noProblems(t *testing.T, svc *servicetest.Service) {
	t.Helper()
	svc.Lock()
	defer svc.Unlock()
	for _, p := range svc.Problems {
		t.Errorf("the service stand-in saw a malformed request: %s", p)
	}
}

// TestProtocolShapeAttestThenCheckIn runs the agent against a stand-in of the service's device
// API that checks the requests' shapes (the end-to-end test against the real service is
// elsewhere): a first run attests and checks in; a restart of the same runtime reuses the
// certificate; --force-attest attests again.
func TestProtocolShapeAttestThenCheckIn(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)

	a := d.agent(t, Options{})
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("first run: %v", err)
	}
	noProblems(t, svc)
	svc.Lock()
	if svc.Nonces != 1 || svc.Attests != 1 || len(svc.Checkins) != 1 || svc.Checkins[0] != a.id.DeviceID {
		t.Errorf("first run: %d nonces, %d attestations, check-ins %v; want 1, 1, [%s]", svc.Nonces, svc.Attests, svc.Checkins, a.id.DeviceID)
	}
	ev := svc.Evidence[0]
	svc.Unlock()
	if ev.DeviceID != a.id.DeviceID || ev.Claims.Measurements != a.id.Measurements || len(ev.Claims.Images) != 0 {
		t.Errorf("evidence claims %+v do not describe this boot", ev.Claims)
	}

	pemChain, err := d.dir.ReadCert()
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(pemChain, []byte("-----BEGIN CERTIFICATE-----")); n != 2 {
		t.Errorf("cert.pem holds %d certificates, want the device certificate and the CA", n)
	}
	c, err := a.id.ParseCertificate(pemChain, time.Now())
	if err != nil {
		t.Fatalf("cert.pem: %v", err)
	}
	st, _ := d.dir.ReadStatus()
	if st.Attestation == nil || st.Attestation.Result != api.AttestPass || st.Attestation.LastPass.IsZero() {
		t.Errorf("status after a pass: %+v", st.Attestation)
	}
	if st.Boot == nil || st.Boot.Measurements != state.FromDice(a.id.Measurements) {
		t.Errorf("status boot record: %+v", st.Boot)
	}

	// A restart derives the same Alias key, so the certificate is still good: no attestation.
	if err := d.agent(t, Options{}).Run(context.Background()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	svc.Lock()
	if svc.Attests != 1 || len(svc.Checkins) != 2 {
		t.Errorf("restart: %d attestations, %d check-ins; want 1 and 2", svc.Attests, len(svc.Checkins))
	}
	svc.Unlock()

	if err := d.agent(t, Options{ForceAttest: true}).Run(context.Background()); err != nil {
		t.Fatalf("forced: %v", err)
	}
	svc.Lock()
	if svc.Attests != 2 {
		t.Errorf("--force-attest: %d attestations, want 2", svc.Attests)
	}
	svc.Unlock()
	if again, _ := d.dir.ReadCert(); bytes.Equal(again, c.PEM) {
		t.Error("a forced attestation did not renew cert.pem")
	}
	noProblems(t, svc)
}

func TestProtocolShapeFailureIsRecorded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason   string
		min, max time.Duration // of the wait before the next attempt
	}{
		{api.ReasonUnclaimed, time.Second, BackoffBase},
		{api.ReasonRevoked, BackoffCap / 2, BackoffCap},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			svc := servicetest.New(t)
			svc.FailReason, svc.FailMessage = tc.reason, "claim it with: rampart device claim ID"
			d := newDevice(t, svc)
			err := d.agent(t, Options{}).Run(context.Background())
			var ae *AttestError
			if !errors.As(err, &ae) || ae.Reason != tc.reason {
				t.Fatalf("run: %v, want an AttestError with reason %s", err, tc.reason)
			}
			if want := "attestation failed: " + tc.reason + ": claim it with: rampart device claim ID"; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			st, _ := d.dir.ReadStatus()
			rec := st.Attestation
			if rec == nil || rec.Result != api.AttestFail || rec.Reason != tc.reason || rec.Message != svc.FailMessage {
				t.Fatalf("status after a fail: %+v", rec)
			}
			if wait := rec.NextAttempt.Sub(rec.At); wait < tc.min || wait > tc.max {
				t.Errorf("next attempt in %v, want %v to %v", wait, tc.min, tc.max)
			}
			if _, err := d.dir.ReadCert(); !errors.Is(err, state.ErrNoCertificate) {
				t.Errorf("a failed attestation left cert.pem: %v", err)
			}
			noProblems(t, svc)
		})
	}
}

func TestProtocolShapeCertificateForAnotherKeyRejected(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	svc.WrongKey = true
	err := d.agent(t, Options{}).Run(context.Background())
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("run: %v, want ErrWrongKey", err)
	}
	if _, err := d.dir.ReadCert(); !errors.Is(err, state.ErrNoCertificate) {
		t.Errorf("a certificate for another key was stored: %v", err)
	}
}

func TestProtocolShapeUntrustedService(t *testing.T) {
	t.Parallel()
	other := servicetest.New(t)
	// A device given another CA than the one that vouches for the server refuses the server.
	ca, _ := testCA(t)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	path := filepath.Join(t.TempDir(), "device")
	if _, err := boot.Init(path, boot.Factory{ServiceURL: other.URL, ServiceCA: caPEM, Runtime: strings.NewReader(dumpHandoff)}); err != nil {
		t.Fatal(err)
	}
	d, _ := state.Open(path)
	if code, err := boot.Run(d, nil, nil, os.Stdout, os.Stderr); err != nil || code != 0 {
		t.Fatal(code, err)
	}
	raw, _ := os.ReadFile(d.Path("handoff.out"))
	h, _ := handoff.Read(bytes.NewReader(raw))
	a, err := New(d, h, Options{Once: true})
	if err != nil {
		t.Fatal(err)
	}
	var ua x509.UnknownAuthorityError
	if err := a.Run(context.Background()); !errors.As(err, &ua) {
		t.Fatalf("run against a server of another CA: %v, want an unknown-authority error", err)
	}
	other.Lock()
	defer other.Unlock()
	if other.Nonces != 0 {
		t.Error("the device spoke to a server its CA does not vouch for")
	}
}

func TestNewIdentityRefusesForgedHandoff(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	dev, _ := d.dir.ReadDevice()
	for _, tc := range []struct {
		name string
		edit func(*handoff.Handoff, *state.Device)
	}{
		{"another CDI (another runtime's)", func(h *handoff.Handoff, _ *state.Device) { h.CDIAttest[0] ^= 1 }},
		{"other measurements", func(h *handoff.Handoff, _ *state.Device) { h.Measurements.Runtime[0] ^= 1 }},
		{"debug mode claimed", func(h *handoff.Handoff, _ *state.Device) { h.Measurements.Mode = "debug" }},
		{"another device's key", func(h *handoff.Handoff, _ *state.Device) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			h.DeviceIDKey, _ = x509.MarshalPKIXPublicKey(&k.PublicKey)
		}},
		{"device.json changed since boot", func(_ *handoff.Handoff, dv *state.Device) { dv.ServiceURL = "https://evil.test" }},
	} {
		h, dv := d.handoff(t), dev
		tc.edit(h, &dv)
		if _, err := NewIdentity(h, dv); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := NewIdentity(d.handoff(t), dev); err != nil {
		t.Errorf("the genuine handoff: %v", err)
	}
}

func TestInstallChecksAndWritesCertificate(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	d := newDevice(t, svc)
	a := d.agent(t, Options{})
	ca, caKey := testCA(t)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	issue := func(pub any, cn string) string {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	alias := a.id.AliasPublicKey()
	id := string(a.id.DeviceID)
	good := issue(alias, id)
	c, err := a.install(good, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := d.dir.ReadCert(); string(b) != good+caPEM || !bytes.Equal(b, c.PEM) {
		t.Error("cert.pem is not the certificate followed by the CA chain")
	}
	if fi, _ := os.Stat(d.dir.Path(state.FileCert)); fi.Mode().Perm() != 0o600 {
		t.Errorf("cert.pem mode %04o", fi.Mode().Perm())
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCA, _ := testCA(t)
	for _, tc := range []struct{ name, cert, chain string }{
		{"another public key", issue(&other.PublicKey, id), caPEM},
		{"another device's name", issue(alias, strings.Repeat("0", 64)), caPEM},
		{"a chain it does not chain to", good, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: otherCA.Raw}))},
		{"no chain", good, ""},
		{"a private key smuggled in", good, caPEM + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"},
	} {
		if _, err := a.install(tc.cert, tc.chain); err == nil {
			t.Errorf("%s: installed", tc.name)
		}
		if b, _ := d.dir.ReadCert(); string(b) != good+caPEM {
			t.Errorf("%s: cert.pem changed", tc.name)
		}
	}
}

func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test tenant CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

// TestUpToDateCheckinIsOneRequest: once a round has completed, a check-in when nothing moved is
// the conditional update-info request alone, answered 304: its answer said who the device is
// and which capability it holds, so neither whoami nor the capability is asked for.
func TestUpToDateCheckinIsOneRequest(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.ETag, svc.SayCapability = `"moved-not"`, true
	svc.Unlock()
	d := newDevice(t, svc)
	a := d.agent(t, Options{})
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("first run: %v", err)
	}
	svc.Lock()
	svc.Requests = nil
	svc.Unlock()
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("second run: %v", err)
	}
	svc.Lock()
	got := svc.Requests
	svc.Unlock()
	if want := []string{"GET " + api.DevicePathUpdates}; !slices.Equal(got, want) {
		t.Errorf("an up-to-date check-in sent %q, want %q", got, want)
	}
	noProblems(t, svc)
}

// TestOlderServiceIsAskedWhoami: a service whose update info does not say who the device is
// (one older than that answer) is asked whoami as well, and the device still checks that the
// service takes it for itself.
func TestOlderServiceIsAskedWhoami(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.WhoamiOnly = true
	svc.Unlock()
	d := newDevice(t, svc)
	a := d.agent(t, Options{})
	if err := a.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	svc.Lock()
	asked := slices.Contains(svc.Requests, "GET "+api.DevicePathWhoami)
	checkins := len(svc.Checkins)
	svc.Unlock()
	if !asked || checkins != 1 {
		t.Errorf("asked whoami: %v, %d check-ins; want true and 1", asked, checkins)
	}
	noProblems(t, svc)
}

// TestUnusableUpdateInfoIsAnUpdateFailure: update info the device cannot use (here a policy it
// does not know, as a newer service might send) still leaves a working check-in, by whoami:
// the failure is the update cycle's, recorded in status.json and reported to the service, and
// the device stays online for its other traffic.
func TestUnusableUpdateInfoIsAnUpdateFailure(t *testing.T) {
	t.Parallel()
	svc := servicetest.New(t)
	svc.Lock()
	svc.Updates.UpdatePolicy = "SomethingNew"
	svc.Unlock()
	d := newDevice(t, svc)
	a := d.agent(t, Options{})
	err := a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unknown update policy") {
		t.Fatalf("run: %v, want the update cycle's failure", err)
	}
	if !a.reachable.Load() {
		t.Error("the device took itself for offline after a check-in that worked")
	}
	st, _ := d.dir.ReadStatus()
	if st.Update == nil || st.Update.Result != api.UpdateFailed || !strings.Contains(st.Update.Message, "unknown update policy") {
		t.Errorf("status.json's update record: %+v, want the failure", st.Update)
	}
	svc.Lock()
	reports, asked := svc.Reports, slices.Contains(svc.Requests, "GET "+api.DevicePathWhoami)
	svc.Unlock()
	if !asked || len(reports) == 0 || reports[len(reports)-1].Result != api.UpdateFailed {
		t.Errorf("whoami asked: %v; reports %+v; want whoami and a failed report", asked, reports)
	}
}
