package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// tlsWorld serves a world's API over real TLS that asks for client certificates, as the service
// does.
func tlsWorld(t *testing.T) (*world, *httptest.Server) {
	w := newWorld(t, "sqlite")
	return w, newTLSServer(t, w)
}

// newTLSServer serves a world's API over real TLS that asks for client certificates.
func newTLSServer(t testing.TB, w *world) *httptest.Server {
	srv := httptest.NewUnstartedServer(w.h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// deviceClient returns an HTTPS client presenting cert (none if cert is nil).
func deviceClient(srv *httptest.Server, cert *tls.Certificate) *http.Client {
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	c.Transport = tr
	return c
}

// issue gives tenant A's device a certificate for a fresh key.
func issue(t testing.TB, w *world, device ident.DeviceID) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
	ca := pki.NewAuthority(w.st, kek, nil)
	cert, _, err := ca.IssueDevice(context.Background(), w.a.tenant.ID, device, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDeviceRouteNeedsMutualTLS(t *testing.T) {
	w, srv := tlsWorld(t)
	if status, body := get(t, deviceClient(srv, nil), srv.URL+api.DevicePathWhoami); status != http.StatusUnauthorized {
		t.Errorf("without a certificate: %d %s, want 401", status, body)
	}
	status, body := get(t, deviceClient(srv, issue(t, w, w.a.device)), srv.URL+api.DevicePathWhoami)
	if status != http.StatusOK {
		t.Fatalf("with a device certificate: %d %s", status, body)
	}
	var who api.DeviceWhoami
	json.Unmarshal([]byte(body), &who)
	if who.DeviceID != w.a.device || who.TenantID != w.a.tenant.ID || who.GroupID != w.a.group.ID {
		t.Errorf("whoami %+v", who)
	}
}

func TestRevokedDeviceCertificateRefused(t *testing.T) {
	w, srv := tlsWorld(t)
	cert := issue(t, w, w.a.device)
	w.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.RevokeDevice(w.a.tenant.ID, w.a.device, time.Now())
	})
	if status, body := get(t, deviceClient(srv, cert), srv.URL+api.DevicePathWhoami); status != http.StatusForbidden {
		t.Errorf("revoked device: %d %s, want 403", status, body)
	}
}

// TestForgedDeviceCertificateRefused presents a certificate naming tenant A's device, made by a
// CA of the attacker's own.
func TestForgedDeviceCertificateRefused(t *testing.T) {
	w, srv := tlsWorld(t)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	uri, _ := url.Parse(pki.DeviceURI(w.a.tenant.ID, w.a.device))
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: string(w.a.device)},
		URIs: []*url.URL{uri}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	leaf, _ := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	cert := &tls.Certificate{Certificate: [][]byte{leaf, caDER}, PrivateKey: key}
	if status, body := get(t, deviceClient(srv, cert), srv.URL+api.DevicePathWhoami); status != http.StatusUnauthorized {
		t.Errorf("forged certificate: %d %s, want 401", status, body)
	}
}

func TestOversizedEvidenceRefused(t *testing.T) {
	_, srv := tlsWorld(t)
	body := bytes.Repeat([]byte{0xa0}, evidence.MaxSize+1)
	resp, err := deviceClient(srv, nil).Post(srv.URL+api.DevicePathAttest, api.EvidenceContentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ar api.AttestResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || ar.Result != api.AttestFail || ar.Reason != api.ReasonMalformed {
		t.Errorf("64 KiB + 1 of evidence: %d %+v, want 413 with a malformed_evidence failure", resp.StatusCode, ar)
	}
}

func TestAttestWrongContentTypeRefused(t *testing.T) {
	_, srv := tlsWorld(t)
	resp, err := deviceClient(srv, nil).Post(srv.URL+api.DevicePathAttest, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("status %d, want 415", resp.StatusCode)
	}
}

func TestNonceRequestValidated(t *testing.T) {
	_, srv := tlsWorld(t)
	c := deviceClient(srv, nil)
	for _, body := range []string{`{"device_id":"nope"}`, `{}`, `{"device_id":"` + strings.Repeat("a", 64) + `","x":1}`, strings.Repeat(" ", 5000)} {
		resp, err := c.Post(srv.URL+api.DevicePathNonce, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("nonce body %.40q: %d, want 4xx", body, resp.StatusCode)
		}
	}
	resp, err := c.Post(srv.URL+api.DevicePathNonce, "application/json", strings.NewReader(`{"device_id":"`+strings.Repeat("a", 64)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n api.NonceResponse
	json.NewDecoder(resp.Body).Decode(&n)
	if resp.StatusCode != http.StatusOK || len(n.Nonce) != attest.NonceSize || time.Until(n.ExpiresAt) > 5*time.Minute+time.Second {
		t.Errorf("nonce: %d %+v", resp.StatusCode, n)
	}
}

// TestDeviceSessionResumptionKeepsIdentity reconnects with a resumed TLS session (what a fleet
// reconnecting at once does) and checks the device is still known by its certificate.
func TestDeviceSessionResumptionKeepsIdentity(t *testing.T) {
	w, srv := tlsWorld(t)
	c := deviceClient(srv, issue(t, w, w.a.device))
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(8)
	resumed := false
	for i := 0; i < 2; i++ {
		resp, err := c.Get(srv.URL + api.DevicePathWhoami)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: status %d", i, resp.StatusCode)
		}
		resumed = resp.TLS.DidResume
		tr.CloseIdleConnections() // the next request makes a new connection
	}
	if !resumed {
		t.Error("the second connection did not resume the TLS session")
	}
}

// TestCachedDeviceCertificateRefusedAfterReleaseAndReclaim: a device certificate verified (and
// cached) before its device was released is refused at once after the release, even once the
// tenant has claimed the device again: the release revoked it.
func TestCachedDeviceCertificateRefusedAfterReleaseAndReclaim(t *testing.T) {
	w, srv := tlsWorld(t)
	c := deviceClient(srv, issue(t, w, w.a.device))
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusOK {
		t.Fatalf("before the release: %d %s", status, body)
	}
	if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/release", nil); status != http.StatusOK {
		t.Fatalf("release: %d %s", status, body)
	}
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{w.a.device}, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusForbidden {
		t.Errorf("the released claim's certificate: %d %s, want 403", status, body)
	}
}

// TestCachedDeviceCertificateRefusedAfterRevoke: a device revoked after its certificate was
// verified (and cached) is refused on its next request.
func TestCachedDeviceCertificateRefusedAfterRevoke(t *testing.T) {
	w, srv := tlsWorld(t)
	c := deviceClient(srv, issue(t, w, w.a.device))
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusOK {
		t.Fatalf("before the revocation: %d %s", status, body)
	}
	if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/revoke", nil); status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusForbidden {
		t.Errorf("the revoked device: %d %s, want 403", status, body)
	}
}

// TestCertificateRevokedOnAnotherReplicaRefusedWithinBound: a replica that cached a device
// certificate refuses it once revocationRecheck has passed after another replica revoked it
// (by releasing the device, which was then claimed again, so the device's state alone does not
// tell).
func TestCertificateRevokedOnAnotherReplicaRefusedWithinBound(t *testing.T) {
	w := newWorld(t, "sqlite")
	now := time.Now()
	clock := func() time.Time { return now }
	kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
	replica := httpapi.New(httpapi.Config{Store: w.st, CA: pki.NewAuthority(w.st, kek, nil), Blobs: w.blobs, Keys: w.keys,
		TUF: tufrepo.New(w.st, w.keys, w.blobs, nil), Now: clock})
	mux := http.NewServeMux()
	replica.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := deviceClient(srv, issue(t, w, w.a.device))
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusOK {
		t.Fatalf("before the release: %d %s", status, body)
	}
	if status, body := w.do(adminA, "POST", "/api/v1/devices/"+string(w.a.device)+"/release", nil); status != http.StatusOK {
		t.Fatalf("release on the other replica: %d %s", status, body)
	}
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{w.a.device}, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(httpapi.RevocationRecheck)
	if status, body := get(t, c, srv.URL+api.DevicePathWhoami); status != http.StatusForbidden {
		t.Errorf("%v after the release elsewhere: %d %s, want 403", httpapi.RevocationRecheck, status, body)
	}
}
