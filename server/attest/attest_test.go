package attest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// device is a simulated device: its UDS, keys and Alias certificate, derived as the runtime does.
type device struct {
	id        ident.DeviceID
	deviceKey *ecdsa.PrivateKey
	alias     *ecdsa.PrivateKey
	aliasCert []byte
	m         dice.Measurements
}

func newDevice(t testing.TB, runtime []byte, mode rot.Mode) *device {
	t.Helper()
	uds := make([]byte, rot.UDSSize)
	rand.Read(uds)
	dk, err := rot.DeviceIDKey(uds)
	if err != nil {
		t.Fatal(err)
	}
	in := rot.Inputs{Code: sha512.Sum512(runtime), Mode: mode}
	layer, err := rot.DeriveLayer(uds, in)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := rot.AliasCertificate(dk, layer.AliasKey, in.Measurements())
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(dk.Public())
	return &device{id: ident.DeviceIDFromPublicKey(spki), deviceKey: dk, alias: layer.AliasKey, aliasCert: cert, m: in.Measurements()}
}

func (d *device) claims(nonce []byte) evidence.Claims {
	spki, _ := x509.MarshalPKIXPublicKey(d.deviceKey.Public())
	return evidence.Claims{Nonce: nonce, DeviceKey: spki, IssuedAt: time.Now(), Measurements: d.m}
}

func (d *device) evidence(t testing.TB, nonce []byte) []byte {
	t.Helper()
	tok, err := evidence.Sign(d.claims(nonce), d.alias, d.aliasCert)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forge re-signs a device's honest token with another key, keeping its certificate and claims,
// as an attacker without the Alias key would have to.
func forge(t testing.TB, honest []byte, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(honest); err != nil {
		t.Fatal(err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	msg.Signature = nil
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var runtime = []byte("rampart-device runtime 1.0")

type env struct {
	st  *store.Store
	svc *attest.Service
	ca  *pki.Authority
	now time.Time
	ten api.Tenant
}

func newEnv(t testing.TB, backend string) *env {
	t.Helper()
	st := storetest.Open(t, backend)
	kek, _ := pki.ParseKEK(strings.Repeat("11", 32))
	e := &env{st: st, now: time.Now().UTC()}
	clock := func() time.Time { return e.now }
	e.ca = pki.NewAuthority(st, kek, clock)
	e.svc = attest.New(st, e.ca, nil, clock)
	e.ten = api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "acme", CreatedAt: e.now}
	sum := sha512.Sum512(runtime)
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		if err := tx.CreateTenant(e.ten); err != nil {
			return err
		}
		return tx.AddRuntimeRelease(api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: "1.0",
			Size: int64(len(runtime)), SHA512: hex.EncodeToString(sum[:]), SHA256: strings.Repeat("0", 64), PublishedAt: e.now})
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) claim(t testing.TB, d *device) {
	t.Helper()
	err := e.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(e.ten.ID, []ident.DeviceID{d.id}, e.now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) nonce(t testing.TB, id ident.DeviceID) []byte {
	t.Helper()
	n, err := e.svc.Nonce(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n.Nonce
}

// wantFailure attests and checks the appraisal fails for reason, and that the failure is kept.
func (e *env) wantFailure(t *testing.T, token []byte, reason string) {
	t.Helper()
	_, err := e.svc.Attest(context.Background(), token, "192.0.2.1")
	var f *attest.Failure
	if !errors.As(err, &f) || f.Reason != reason {
		t.Fatalf("attest: %v, want failure %s", err, reason)
	}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

func TestAttestPassIssues24HourCertificate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		resp, err := e.svc.Attest(context.Background(), d.evidence(t, e.nonce(t, d.id)), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode([]byte(resp.Certificate))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM([]byte(resp.CAChain))
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: e.now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("certificate does not chain to the tenant CA: %v", err)
		}
		if cert.Subject.CommonName != string(d.id) || len(cert.URIs) != 1 || cert.URIs[0].String() != pki.DeviceURI(e.ten.ID, d.id) {
			t.Errorf("subject %q URIs %v", cert.Subject.CommonName, cert.URIs)
		}
		if life := cert.NotAfter.Sub(e.now); life > 24*time.Hour || life < 23*time.Hour {
			t.Errorf("lifetime %v, want 24 hours", life)
		}
		if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cert.IsCA {
			t.Errorf("key usage %v CA %v, want clientAuth only", cert.ExtKeyUsage, cert.IsCA)
		}
		if !d.alias.PublicKey.Equal(cert.PublicKey) {
			t.Error("the certificate is not for the Alias key")
		}
		if resp.Mode != "normal" {
			t.Errorf("mode %q", resp.Mode)
		}
		if tenant, id, err := e.ca.VerifyDevice(context.Background(), []*x509.Certificate{cert}); err != nil || tenant != e.ten.ID || id != d.id {
			t.Errorf("VerifyDevice: %v %v %v", tenant, id, err)
		}
		var got api.Device
		e.st.View(context.Background(), func(tx *store.Tx) error {
			got, _ = tx.Device(e.ten.ID, d.id)
			return nil
		})
		if got.LastAttestResult != api.AttestPass || got.CertificateExpiry == nil {
			t.Errorf("device record after pass: %+v", got)
		}
	})
}

func TestAttestReplayedNonce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		tok := d.evidence(t, e.nonce(t, d.id))
		if _, err := e.svc.Attest(context.Background(), tok, "x"); err != nil {
			t.Fatal(err)
		}
		e.wantFailure(t, tok, api.ReasonStaleNonce)
	})
}

func TestAttestNonceIssuedForAnotherDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d, other := newDevice(t, runtime, rot.ModeNormal), newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		e.wantFailure(t, d.evidence(t, e.nonce(t, other.id)), api.ReasonNonceForOther)
	})
}

func TestAttestExpiredNonce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		n := e.nonce(t, d.id)
		e.now = e.now.Add(attest.NonceLifetime + time.Second)
		e.wantFailure(t, d.evidence(t, n), api.ReasonStaleNonce)
	})
}

func TestAttestNonceNeverIssued(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		e.wantFailure(t, d.evidence(t, []byte("made-up-nonce-0123456789")), api.ReasonStaleNonce)
	})
}

func TestAttestEvidenceSignedByAnotherKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		mallory, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		e.wantFailure(t, forge(t, d.evidence(t, e.nonce(t, d.id)), mallory), api.ReasonBadSignature)
	})
}

// TestAttestAliasCertificateNotSignedByDeviceKey: a stolen Alias key of device B with device A's
// identity claimed in the token.
func TestAttestAliasCertificateNotSignedByDeviceKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		victim, attacker := newDevice(t, runtime, rot.ModeNormal), newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, victim)
		c := victim.claims(e.nonce(t, victim.id))
		tok, err := evidence.Sign(c, attacker.alias, attacker.aliasCert)
		if err != nil {
			t.Fatal(err)
		}
		e.wantFailure(t, tok, api.ReasonAliasNotCertified)
	})
}

func TestAttestMeasurementsDifferFromCertificate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		// A tampered runtime: its certificate carries its true measurement, its token claims the
		// published one.
		d := newDevice(t, []byte("tampered runtime"), rot.ModeNormal)
		e.claim(t, d)
		c := d.claims(e.nonce(t, d.id))
		c.Measurements.Runtime = sha512.Sum512(runtime)
		tok, err := evidence.Sign(c, d.alias, d.aliasCert)
		if err != nil {
			t.Fatal(err)
		}
		e.wantFailure(t, tok, api.ReasonMeasurementMismatch)
	})
}

func TestAttestUnclaimedDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.wantFailure(t, d.evidence(t, e.nonce(t, d.id)), api.ReasonUnclaimed)
	})
}

func TestAttestRevokedDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		e.st.Update(context.Background(), func(tx *store.Tx) error { return tx.RevokeDevice(e.ten.ID, d.id, e.now) })
		e.wantFailure(t, d.evidence(t, e.nonce(t, d.id)), api.ReasonRevoked)
	})
}

func TestAttestUnknownRuntime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, []byte("a runtime nobody published"), rot.ModeNormal)
		e.claim(t, d)
		e.wantFailure(t, d.evidence(t, e.nonce(t, d.id)), api.ReasonUnknownRuntime)
	})
}

func TestAttestDebugModeWithoutDevelopmentCapability(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeDebug)
		e.claim(t, d)
		e.wantFailure(t, d.evidence(t, e.nonce(t, d.id)), api.ReasonDebugNotAllowed)
	})
}

func TestAttestMalformedEvidence(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.wantFailure(t, []byte("\xa1\xa1\xa1 not cbor"), api.ReasonMalformed)
	})
}

// TestAttestFailureRecordedAndAudited: a claimed device's failure is on the device, in the
// failures kept for error reporting, and in the tenant's audit log.
func TestAttestFailureRecordedAndAudited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, []byte("unpublished"), rot.ModeNormal)
		e.claim(t, d)
		e.wantFailure(t, d.evidence(t, e.nonce(t, d.id)), api.ReasonUnknownRuntime)
		err := e.st.View(context.Background(), func(tx *store.Tx) error {
			dev, err := tx.Device(e.ten.ID, d.id)
			if err != nil {
				return err
			}
			if dev.LastAttestResult != api.AttestFail || dev.LastAttestReason != api.ReasonUnknownRuntime {
				t.Errorf("device: %+v", dev)
			}
			fails, err := tx.AttestationFailures(e.ten.ID, time.Time{}, 0)
			if err != nil {
				return err
			}
			if len(fails) != 1 || fails[0].Reason != api.ReasonUnknownRuntime || fails[0].DeviceID != d.id {
				t.Errorf("failures: %+v", fails)
			}
			audit, err := tx.Audit(e.ten.ID, 0, 100)
			if err != nil {
				return err
			}
			found := false
			for _, a := range audit {
				found = found || a.Action == "device.attest.fail"
			}
			if !found {
				t.Errorf("no audit entry for the failure: %+v", audit)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestAttestUnknownImage: a device that runs an image its tenant never had, or one whose package
// differs from the tenant's, fails; in development (sideloading) it passes.
func TestAttestUnknownImage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d := newDevice(t, runtime, rot.ModeNormal)
		e.claim(t, d)
		known := api.Image{ID: ident.ImageID(ident.NewID()), TenantID: e.ten.ID, ComponentID: ident.ComponentID(ident.NewID()), Name: "blink",
			Version: "1.0.0", Type: api.ImageApplication, Size: 10, SHA256: ident.SHA256([]byte("package")).String(),
			PayloadSize: 1, PayloadSHA256: ident.SHA256([]byte("p")).String(), UploadedAt: e.now, UploadedBy: "t"}
		err := e.st.Update(context.Background(), func(tx *store.Tx) error {
			return tx.AddImage(store.ImageRecord{Image: known, ManifestSHA256: strings.Repeat("0", 64)})
		})
		if err != nil {
			t.Fatal(err)
		}
		attestWith := func(images ...evidence.Image) ([]byte, error) {
			c := d.claims(e.nonce(t, d.id))
			c.Images = images
			return evidence.Sign(c, d.alias, d.aliasCert)
		}
		good := evidence.Image{ID: string(known.ID), Digest: ident.SHA256([]byte("package"))}
		tok, _ := attestWith(good)
		if _, err := e.svc.Attest(context.Background(), tok, "x"); err != nil {
			t.Fatalf("the tenant's own image: %v", err)
		}
		tok, _ = attestWith(good, evidence.Image{ID: ident.NewID(), Digest: ident.SHA256([]byte("stranger"))})
		e.wantFailure(t, tok, api.ReasonUnknownImage)
		tok, _ = attestWith(evidence.Image{ID: string(known.ID), Digest: ident.SHA256([]byte("altered"))})
		e.wantFailure(t, tok, api.ReasonUnknownImage)

		err = e.st.Update(context.Background(), func(tx *store.Tx) error {
			return tx.EnableDevelopment(e.ten.ID, d.id, []byte(`{}`), e.now)
		})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ = attestWith(evidence.Image{ID: ident.NewID(), Digest: ident.SHA256([]byte("sideloaded"))})
		if _, err := e.svc.Attest(context.Background(), tok, "x"); err != nil {
			t.Errorf("a sideloaded image on a device in development: %v", err)
		}
	})
}

// TestAttestationFailureCountedOnce: the failure the service records and the same failure the
// device queued and uploads are one event; and a failure from before the device joined its
// group is not charged to that group.
func TestAttestationFailureCountedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		d := newDevice(t, []byte("unpublished"), rot.ModeNormal)
		e.claim(t, d)
		n := e.nonce(t, d.id)
		_, err := e.svc.Attest(ctx, d.evidence(t, n), "192.0.2.1")
		var f *attest.Failure
		if !errors.As(err, &f) {
			t.Fatalf("attest: %v, want a failure", err)
		}
		// What the device queued for the same refusal (device/agent: attestFailed), sent an hour
		// later when it joined a group.
		queued := api.DeviceEvent{ID: api.AttestationFailureEventID(n), Category: api.EventAttestationFailed,
			Class: api.ClassOS, Type: api.TypeUnplanned, Description: f.Reason + ": " + f.Message, Count: 1,
			FirstAt: e.now, LastAt: e.now}
		product := api.Product{ID: ident.ProductID(ident.NewID()), TenantID: e.ten.ID, Name: "Kettle", CreatedAt: e.now}
		group := api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: e.ten.ID, ProductID: product.ID, Name: "Production",
			OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyAll, CreatedAt: e.now}
		later := api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppCrash, Class: api.ClassApp,
			Type: api.TypeUnplanned, Description: "trap", Count: 1, FirstAt: time.Now().Add(time.Hour), LastAt: time.Now().Add(time.Hour)}
		earlier := api.DeviceEvent{ID: ident.NewID(), Category: api.EventAppExit, Class: api.ClassApp,
			Type: api.TypeUnplanned, Description: "exit code 2", Count: 1, FirstAt: e.now.Add(-time.Hour), LastAt: e.now.Add(-time.Hour)}
		var added report.Added
		var all, ofGroup []api.ErrorSummary
		err = e.st.Update(ctx, func(tx *store.Tx) error {
			if err := tx.CreateProduct(product, []api.DeviceGroup{group}); err != nil {
				return err
			}
			if err := tx.SetDeviceGroup(e.ten.ID, d.id, group.ID); err != nil {
				return err
			}
			added, err = report.Add(tx, report.Upload(e.ten.ID, d.id, api.EventBatch{Events: []api.DeviceEvent{queued, earlier, later}},
				time.Now().Add(time.Hour)))
			if err != nil {
				return err
			}
			if all, err = tx.EventSummary(e.ten.ID, time.Time{}, "", 0); err != nil {
				return err
			}
			ofGroup, err = tx.EventSummary(e.ten.ID, time.Time{}, group.ID, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if added.Duplicates != 1 {
			t.Errorf("the device's report of the failure the service recorded: %+v, want a duplicate", added)
		}
		failures := 0
		for _, s := range all {
			if s.Category == api.EventAttestationFailed {
				failures += s.Events
			}
		}
		if failures != 1 {
			t.Errorf("one attestation failure is counted %d times: %+v", failures, all)
		}
		if len(ofGroup) != 1 || ofGroup[0].Category != api.EventAppCrash {
			t.Errorf("the group's report: %+v, want only the crash after it joined, not the exit before", ofGroup)
		}
	})
}
