package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/store"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, cn string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// ekCert issues an EK certificate as TPM manufacturers do: an RSA key, an empty subject, and
// the TPM's manufacturer, model and version in a critical subjectAltName directoryName.
func ekCert(t testing.TB, ca *testCA) []byte {
	t.Helper()
	ek, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	attrs := pkix.RDNSequence{{
		{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 1}, Value: "id:53545354"},
		{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 2}, Value: "swtpm"},
		{Type: asn1.ObjectIdentifier{2, 23, 133, 2, 3}, Value: "id:20191023"},
	}}
	dirName, err := asn1.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dirName}})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageKeyEncipherment,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: san}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ek.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func records(cas ...*testCA) []store.TPMCARecord {
	var recs []store.TPMCARecord
	for _, ca := range cas {
		root := string(ca.cert.RawIssuer) == string(ca.cert.RawSubject)
		recs = append(recs, store.TPMCARecord{TPMCA: api.TPMCA{ID: ca.cert.Subject.CommonName, Root: root}, CertDER: ca.cert.Raw})
	}
	return recs
}

// TestUntrustedTPMIsRefused: an EK certificate must chain, through trusted intermediates, to a
// trusted root; its critical subjectAltName (a directoryName Go's x509 does not handle) is no
// reason to refuse it.
func TestUntrustedTPMIsRefused(t *testing.T) {
	root := newTestCA(t, "TPM Root", nil)
	inter := newTestCA(t, "TPM EK CA", root)
	other := newTestCA(t, "Someone else's CA", nil)
	ek := ekCert(t, inter)
	if c, _ := x509.ParseCertificate(ek); len(c.UnhandledCriticalExtensions) == 0 {
		t.Fatal("the test EK certificate has no critical extension Go leaves unhandled")
	}
	if err := verifyEK(ek, records(root, inter), time.Now()); err != nil {
		t.Errorf("EK of a trusted root and intermediate: %v", err)
	}
	for name, tc := range map[string]struct {
		ek  []byte
		cas []store.TPMCARecord
	}{
		"no trusted CA":                     {ek, nil},
		"another root":                      {ek, records(other)},
		"the intermediate without a root":   {ek, records(inter)},
		"the root without the intermediate": {ek, records(root)},
		"self-made EK certificate":          {ekCert(t, other), records(root, inter)},
		"not a certificate":                 {[]byte("ek"), records(root, inter)},
	} {
		err := verifyEK(tc.ek, tc.cas, time.Now())
		var f *Failure
		if !errors.As(err, &f) || f.Reason != api.ReasonUntrustedTPM {
			t.Errorf("%s: %v, want %s", name, err, api.ReasonUntrustedTPM)
		}
	}
	if err := verifyEK(ek, records(root, inter), time.Now().Add(48*time.Hour)); err == nil {
		t.Error("an expired EK certificate was accepted")
	}
}

func pemOf(certs ...*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

func TestParseTPMCAs(t *testing.T) {
	root := newTestCA(t, "TPM Root", nil)
	inter := newTestCA(t, "TPM EK CA", root)
	cas, err := ParseTPMCAs([]byte(pemOf(root.cert, inter.cert, root.cert)), time.Now())
	if err != nil || len(cas) != 2 || !cas[0].Root || cas[1].Root {
		t.Fatalf("ParseTPMCAs = %+v, %v; want the root, then the intermediate", cas, err)
	}
	if _, err := ParseTPMCAs([]byte(pemOf(root.cert)), time.Now().Add(48*time.Hour)); err == nil ||
		!strings.Contains(err.Error(), "expired") {
		t.Errorf("expired CA: %v", err)
	}
	many := strings.Repeat(pemOf(root.cert), api.MaxTPMCAs+1)
	if _, err := ParseTPMCAs([]byte(many), time.Now()); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many certificates: %v", err)
	}
}

func FuzzParseTPMCAs(f *testing.F) {
	root := newTestCA(f, "TPM Root", nil)
	inter := newTestCA(f, "TPM EK CA", root)
	f.Add([]byte(pemOf(root.cert, inter.cert)))
	f.Add([]byte(pemOf(root.cert) + "trailing"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		cas, err := ParseTPMCAs(b, now)
		if err != nil {
			if !errors.Is(err, ErrBadTPMCAFile) {
				t.Fatalf("error outside its class: %v", err)
			}
			return
		}
		if len(cas) == 0 || len(cas) > api.MaxTPMCAs {
			t.Fatalf("%d CAs accepted", len(cas))
		}
		for _, ca := range cas {
			if !ca.Cert.IsCA || !ca.Cert.BasicConstraintsValid {
				t.Fatalf("a certificate that is not a CA was accepted: %s", ca.Cert.Subject)
			}
		}
	})
}
