package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// caPEM makes a self-signed certificate, a CA unless leaf, in PEM.
func caPEM(t testing.TB, cn string, leaf bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: !leaf, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// tpmCA adds a trusted TPM CA to w's store and returns its ID.
func tpmCA(w *world) string {
	id := ident.NewID()
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		return tx.AddTPMCA(store.TPMCARecord{TPMCA: api.TPMCA{ID: id, Subject: "CN=matrix", Fingerprint: id,
			Root: true, NotAfter: time.Now().Add(time.Hour), AddedAt: time.Now(), AddedBy: "op"}, CertDER: []byte("x")})
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func tpmCACases(w *world) map[string]routeCase {
	return map[string]routeCase{
		"POST /api/v1/tpm-cas":        {path: "/api/v1/tpm-cas", body: api.AddTPMCAsRequest{PEM: caPEM(w.t, "Matrix TPM CA", false)}},
		"GET /api/v1/tpm-cas":         {path: "/api/v1/tpm-cas"},
		"DELETE /api/v1/tpm-cas/{ca}": {path: "/api/v1/tpm-cas/" + tpmCA(w)},
	}
}

func TestTPMCAsAddListRemove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		root, other := caPEM(t, "Root TPM CA", false), caPEM(t, "Other TPM CA", false)
		status, body := w.do(operator, "POST", "/api/v1/tpm-cas", api.AddTPMCAsRequest{PEM: root + "\n" + other + root})
		if status != http.StatusCreated {
			t.Fatalf("add: %d %s", status, body)
		}
		var added []api.TPMCA
		if err := json.Unmarshal([]byte(body), &added); err != nil || len(added) != 2 || !added[0].Root ||
			added[0].Subject != "CN=Root TPM CA" || added[0].AddedBy == "" {
			t.Fatalf("added %s", body)
		}
		if status, body := w.do(operator, "POST", "/api/v1/tpm-cas", api.AddTPMCAsRequest{PEM: root}); status != http.StatusConflict ||
			!strings.Contains(body, "already") {
			t.Errorf("add again: %d %s", status, body)
		}
		status, body = w.do(operator, "GET", "/api/v1/tpm-cas", nil)
		var listed []api.TPMCA
		if err := json.Unmarshal([]byte(body), &listed); err != nil || status != 200 || len(listed) != 2 {
			t.Fatalf("list: %d %s", status, body)
		}
		if status, body := w.do(operator, "DELETE", "/api/v1/tpm-cas/"+added[0].ID, nil); status != 200 {
			t.Errorf("remove: %d %s", status, body)
		}
		if status, _ := w.do(operator, "DELETE", "/api/v1/tpm-cas/"+added[0].ID, nil); status != http.StatusNotFound {
			t.Errorf("remove twice: %d, want 404", status)
		}
		status, body = w.do(operator, "GET", "/api/v1/operator/audit", nil)
		for _, action := range []string{"tpm-ca.add", "tpm-ca.remove"} {
			if !strings.Contains(body, action) {
				t.Errorf("operator audit (%d) has no %s: %s", status, action, body)
			}
		}
	})
}

func TestTPMCAFileRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	ca := caPEM(t, "TPM CA", false)
	for name, tc := range map[string]struct{ pem, want string }{
		"empty":            {"", "no PEM CERTIFICATE block"},
		"garbage":          {"not a certificate", "not a PEM block"},
		"text before":      {"junk\n" + ca, "not a PEM block"},
		"text after":       {ca + "junk", "not a PEM block"},
		"private key":      {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "want CERTIFICATE"},
		"not DER":          {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an X.509 certificate"},
		"leaf certificate": {caPEM(t, "device", true), "is not a CA certificate"},
		"too large":        {strings.Repeat(ca, api.MaxTPMCAFile/len(ca)+1), "limit"},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := w.do(operator, "POST", "/api/v1/tpm-cas", api.AddTPMCAsRequest{PEM: tc.pem})
			if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%d %s, want 400 with %q", status, body, tc.want)
			}
		})
	}
}

func TestGroupRequireTPMCanBeSetAndCleared(t *testing.T) {
	w := newWorld(t, "sqlite")
	status, body := w.do(adminA, "POST", "/api/v1/device-groups",
		api.CreateDeviceGroupRequest{Product: string(w.a.product.ID), Name: "Secure", RequireTPM: true})
	var g api.DeviceGroup
	if err := json.Unmarshal([]byte(body), &g); err != nil || status != http.StatusCreated || !g.RequireTPM {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body = w.do(adminA, "PATCH", "/api/v1/device-groups/"+string(g.ID), map[string]any{"require_tpm": false})
	if err := json.Unmarshal([]byte(body), &g); err != nil || status != 200 || g.RequireTPM {
		t.Fatalf("update: %d %s", status, body)
	}
	_, body = w.do(adminA, "GET", "/api/v1/audit", nil)
	if !strings.Contains(body, "require_tpm=true") || !strings.Contains(body, "require_tpm=false") {
		t.Errorf("audit does not record require_tpm: %s", body)
	}
}
