package pki_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

// claimedDevice is issueDevice for a device the tenant has claimed: only a claimed device's
// certificates are off the CRL.
func claimedDevice(t *testing.T, e *env, tenantID ident.TenantID) device {
	t.Helper()
	id, key := newDevice(t)
	e.update(t, func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(tenantID, []ident.DeviceID{id}, time.Now())
		return err
	})
	cert, _, err := e.ca.IssueDevice(t.Context(), tenantID, id, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return device{id: string(id), cert: cert, tls: clientCert(cert, key)}
}

// revoke revokes a device as the management API does: in the store, then the CRLs, in one
// transaction.
func (e *env) revokeDevice(t *testing.T, tenantID ident.TenantID, d device) {
	t.Helper()
	e.update(t, func(tx *store.Tx) error {
		if err := tx.RevokeDevice(tenantID, ident.DeviceID(d.id), time.Now()); err != nil {
			return err
		}
		return e.ca.UpdateCRLs(t.Context(), tx, tenantID)
	})
}

// crlPEM is the tenant's current CRLs, as 'rampart ca crl' writes them.
func (e *env) crlPEM(t *testing.T, tenantID ident.TenantID) ([]byte, []*x509.RevocationList) {
	t.Helper()
	cas, err := e.ca.CAs(t.Context(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var crls []*x509.RevocationList
	for _, ca := range cas {
		der, err := e.ca.CRL(t.Context(), tenantID, ca.ID)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		crls = append(crls, crl)
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})...)
	}
	return out, crls
}

// TestRevokedDeviceRefusedByBrokerCRL: a revoked device's certificate is still within its 24
// hours, so a broker that checks only the chain lets it in; a broker given the tenant's CRL
// (Mosquitto's crlfile) refuses it, and still takes the other devices.
func TestRevokedDeviceRefusedByBrokerCRL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "sqlite")
	tn := e.tenant(t, "acme")
	kept, revoked := claimedDevice(t, e, tn.ID), claimedDevice(t, e, tn.ID)
	e.revokeDevice(t, tn.ID, revoked)
	if time.Now().After(revoked.cert.NotAfter) {
		t.Fatal("the revoked device's certificate expired: the test would prove nothing")
	}
	// The control: without the CRL, the broker lets the revoked device in.
	if err := connectAndPublish(startBroker(t, bundle(t, e.ca, tn.ID)), revoked); err != nil {
		t.Fatalf("broker without a CRL: %v", err)
	}
	crl, _ := e.crlPEM(t, tn.ID)
	b := startBrokerWithCRL(t, bundle(t, e.ca, tn.ID), crl)
	if err := connectAndPublish(b, kept); err != nil {
		t.Fatalf("a device not revoked, broker with the CRL: %v", err)
	}
	assertRefused(t, b, revoked, "revoked certificate")
}

// TestCRLListsRevokedCertificatesOfEachCA: every CA of the rotation overlap signs its own CRL
// of its own certificates; each new CRL has a higher number, and is current for CRLValidity.
func TestCRLListsRevokedCertificatesOfEachCA(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		e.ca.SetPublicURL("https://rampart.example:8443")
		old := claimedDevice(t, e, tn.ID)
		e.rotate(t, e.ca, tn.ID)
		e.ca.Forget(tn.ID)
		fresh := claimedDevice(t, e, tn.ID)
		if bytes.Equal(old.cert.AuthorityKeyId, fresh.cert.AuthorityKeyId) {
			t.Fatal("both certificates of one CA")
		}
		_, before := e.crlPEM(t, tn.ID)
		e.revokeDevice(t, tn.ID, old)
		e.revokeDevice(t, tn.ID, fresh)
		_, crls := e.crlPEM(t, tn.ID)
		if len(crls) != 2 {
			t.Fatalf("%d CRLs, want one a CA", len(crls))
		}
		for _, d := range []device{old, fresh} {
			if len(d.cert.CRLDistributionPoints) != 1 {
				t.Fatalf("distribution points %v", d.cert.CRLDistributionPoints)
			}
			u, err := url.Parse(d.cert.CRLDistributionPoints[0])
			if err != nil || u.Host != "rampart.example:8443" {
				t.Errorf("distribution point %v", d.cert.CRLDistributionPoints)
			}
			n := 0
			for i, crl := range crls {
				if !bytes.Equal(crl.AuthorityKeyId, d.cert.AuthorityKeyId) {
					continue
				}
				n++
				if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(d.cert.SerialNumber) != 0 {
					t.Errorf("CRL of %s lists %v, want only %x", crl.Issuer, crl.RevokedCertificateEntries, d.cert.SerialNumber)
				}
				if crl.Number.Cmp(before[i].Number) <= 0 {
					t.Errorf("CRL number %v after %v", crl.Number, before[i].Number)
				}
				if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != pki.CRLValidity {
					t.Errorf("CRL current for %v, want %v", got, pki.CRLValidity)
				}
			}
			if n != 1 {
				t.Errorf("%d CRLs of the CA of %s", n, d.id)
			}
		}
	})
}
