package rot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

func testLayer(t *testing.T, code string, mode Mode) (device *ecdsa.PrivateKey, layer Layer, in Inputs) {
	t.Helper()
	uds := bytes.Repeat([]byte{0x33}, UDSSize)
	in = Inputs{
		Code:      sha512.Sum512([]byte(code)),
		Config:    sha512.Sum512([]byte("config")),
		Authority: sha512.Sum512([]byte("operator key")),
		Hidden:    sha512.Sum512([]byte("hidden")),
		Mode:      mode,
	}
	device, err := DeviceIDKey(uds)
	if err != nil {
		t.Fatal(err)
	}
	layer, err = DeriveLayer(uds, in)
	if err != nil {
		t.Fatal(err)
	}
	return device, layer, in
}

func TestAliasCertificate(t *testing.T) {
	device, layer, in := testLayer(t, "runtime", ModeDebug)
	der, err := AliasCertificate(device, layer.AliasKey, in.Measurements())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}

	// Signed by the DeviceID key.
	tbs := sha256.Sum256(cert.RawTBSCertificate)
	if cert.SignatureAlgorithm != x509.ECDSAWithSHA256 || !ecdsa.VerifyASN1(&device.PublicKey, tbs[:], cert.Signature) {
		t.Fatal("Alias certificate is not signed by the DeviceID key")
	}
	if !layer.AliasKey.PublicKey.Equal(cert.PublicKey) {
		t.Fatal("certificate is not for the Alias key")
	}

	// Names, serial, validity and key identifiers as documented.
	deviceSPKI, _ := x509.MarshalPKIXPublicKey(&device.PublicKey)
	aliasSPKI, _ := x509.MarshalPKIXPublicKey(&layer.AliasKey.PublicKey)
	devicePoint, _ := device.PublicKey.Bytes()
	aliasPoint, _ := layer.AliasKey.PublicKey.Bytes()
	deviceIdent, aliasIdent := Identifier(devicePoint), Identifier(aliasPoint)
	if got, want := cert.Issuer.CommonName, ident.DeviceIDFromPublicKey(deviceSPKI).String(); got != want {
		t.Errorf("issuer CN %q, want the device ID %q", got, want)
	}
	if got, want := cert.Subject.CommonName, hex.EncodeToString(aliasIdent[:]); got != want {
		t.Errorf("subject CN %q, want %q", got, want)
	}
	sum := sha256.Sum256(aliasSPKI)
	sum[0] &= 0x7f
	if got := cert.SerialNumber.FillBytes(make([]byte, 16)); !bytes.Equal(got, sum[:16]) {
		t.Errorf("serial %x, want %x", got, sum[:16])
	}
	if !cert.NotBefore.Equal(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!cert.NotAfter.Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("validity %v to %v", cert.NotBefore, cert.NotAfter)
	}
	if !bytes.Equal(cert.SubjectKeyId, aliasIdent[:]) || !bytes.Equal(cert.AuthorityKeyId, deviceIdent[:]) {
		t.Errorf("key identifiers: subject %x, authority %x", cert.SubjectKeyId, cert.AuthorityKeyId)
	}
	if cert.KeyUsage != x509.KeyUsageDigitalSignature || !cert.BasicConstraintsValid || cert.IsCA {
		t.Errorf("key usage %v, basic constraints valid %v, CA %v", cert.KeyUsage, cert.BasicConstraintsValid, cert.IsCA)
	}
	for _, ext := range cert.Extensions {
		critical := ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 15}) || ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 19}) || ext.Id.Equal(dice.OIDTcbInfo)
		if critical != ext.Critical {
			t.Errorf("extension %v: critical %v", ext.Id, ext.Critical)
		}
	}

	// The measurements parse back; the hidden input is not among them.
	m, err := dice.FromCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	want := dice.Measurements{Runtime: in.Code, Config: in.Config, Authority: in.Authority, Mode: dice.ModeDebug}
	if m != want {
		t.Fatalf("TcbInfo %+v, want %+v", m, want)
	}
	if bytes.Contains(der, in.Hidden[:8]) {
		t.Fatal("certificate discloses the hidden input")
	}
}

// TestAliasCertificateDeterministic: everything but the (randomised) signature depends only
// on the keys and the measurements.
func TestAliasCertificateDeterministic(t *testing.T) {
	device, layer, in := testLayer(t, "runtime", ModeNormal)
	tbs := func(d *ecdsa.PrivateKey, a *ecdsa.PrivateKey, m Measurements) []byte {
		der, err := AliasCertificate(d, a, m)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert.RawTBSCertificate
	}
	first := tbs(device, layer.AliasKey, in.Measurements())
	if !bytes.Equal(first, tbs(device, layer.AliasKey, in.Measurements())) {
		t.Fatal("same keys and measurements gave two TBS certificates")
	}
	_, other, otherIn := testLayer(t, "another runtime", ModeNormal)
	if bytes.Equal(first, tbs(device, other.AliasKey, otherIn.Measurements())) {
		t.Fatal("another runtime gave the same TBS certificate")
	}
}

func TestAliasCertificateRefuses(t *testing.T) {
	device, layer, in := testLayer(t, "runtime", ModeNormal)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad := in.Measurements()
	bad.Mode = 7
	tests := []struct {
		name          string
		device, alias *ecdsa.PrivateKey
		m             Measurements
	}{
		{"nil device key", nil, layer.AliasKey, in.Measurements()},
		{"nil alias key", device, nil, in.Measurements()},
		{"P-384 device key", p384, layer.AliasKey, in.Measurements()},
		{"P-384 alias key", device, p384, in.Measurements()},
		{"invalid mode", device, layer.AliasKey, bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if der, err := AliasCertificate(tt.device, tt.alias, tt.m); err == nil {
				t.Fatalf("made a certificate: %x", der[:16])
			}
		})
	}
}

func TestInputsMeasurements(t *testing.T) {
	for _, mode := range []Mode{ModeNotConfigured, ModeNormal, ModeDebug, ModeRecovery} {
		in := Inputs{Code: [64]byte{1}, Config: [64]byte{2}, Authority: [64]byte{3}, Hidden: [64]byte{4}, Mode: mode}
		m := in.Measurements()
		if m.Runtime != in.Code || m.Config != in.Config || m.Authority != in.Authority || uint8(m.Mode) != uint8(mode) || m.Mode.String() != mode.String() {
			t.Fatalf("Measurements(%+v) = %+v", in, m)
		}
	}
}
