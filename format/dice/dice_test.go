package dice

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func sample(mode Mode) Measurements {
	var m Measurements
	for i := range DigestSize {
		m.Runtime[i] = byte(i)
		m.Config[i] = byte(0x40 + i)
		m.Authority[i] = byte(0x80 + i)
	}
	m.Mode = mode
	return m
}

func TestTcbInfoRoundTrip(t *testing.T) {
	for _, mode := range []Mode{ModeNotConfigured, ModeNormal, ModeDebug, ModeRecovery} {
		t.Run(mode.String(), func(t *testing.T) {
			m := sample(mode)
			der, err := MarshalTcbInfo(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseTcbInfo(der)
			if err != nil {
				t.Fatal(err)
			}
			if got != m {
				t.Fatalf("round trip: got %+v, want %+v", got, m)
			}
		})
	}
}

// TestTcbInfoEncoding pins the bytes of the profile described in the package doc, so that a
// change to them is a deliberate one.
func TestTcbInfoEncoding(t *testing.T) {
	der, err := MarshalTcbInfo(sample(ModeDebug))
	if err != nil {
		t.Fatal(err)
	}
	r, c, a := sample(0).Runtime, sample(0).Config, sample(0).Authority
	want := "3081df" + // DiceTcbInfo SEQUENCE, 223 bytes
		"a64f" + "304d" + "0609608648016503040203" + "0440" + hex.EncodeToString(r[:]) + // fwids [6] { FWID { id-sha512, digest } }
		"87020410" + // flags [7]: debug (bit 3)
		"888187" + "308184" + "0440" + hex.EncodeToString(c[:]) + "0440" + hex.EncodeToString(a[:]) // vendorInfo [8]
	if got := hex.EncodeToString(der); got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
	normal, _ := MarshalTcbInfo(sample(ModeNormal))
	if !bytes.Contains(normal, []byte{0x87, 0x01, 0x00}) {
		t.Fatalf("normal mode should carry an empty flags bit string: %x", normal)
	}
}

func TestTcbInfoInvalidMode(t *testing.T) {
	if _, err := MarshalTcbInfo(sample(Mode(4))); err == nil {
		t.Fatal("mode 4 marshalled")
	}
	if Mode(4).Valid() || !ModeRecovery.Valid() {
		t.Fatal("Valid is wrong")
	}
}

// mutate re-encodes a TcbInfo after changing one piece, to produce values outside the profile.
func TestTcbInfoRejectsOtherEncodings(t *testing.T) {
	good, _ := MarshalTcbInfo(sample(ModeNormal))
	m := sample(ModeNormal)
	fw, _ := asn1.Marshal(fwid{HashAlg: oidSHA512, Digest: m.Runtime[:]})
	fw256, _ := asn1.Marshal(fwid{HashAlg: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, Digest: m.Runtime[:32]})
	vi, _ := asn1.Marshal(vendorInfo{Config: m.Config[:], Authority: m.Authority[:]})
	viShort, _ := asn1.Marshal(vendorInfo{Config: m.Config[:32], Authority: m.Authority[:]})
	build := func(fwids []byte, flags asn1.BitString, vinfo []byte, extra ...[]byte) []byte {
		fws, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tagFWIDs, IsCompound: true, Bytes: fwids})
		fl, _ := asn1.MarshalWithParams(flags, "tag:7")
		v, _ := asn1.MarshalWithParams(vinfo, "tag:8")
		body := append(append(fws, fl...), v...)
		for _, e := range extra {
			body = append(body, e...)
		}
		out, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: body})
		return out
	}
	if !bytes.Equal(build(fw, asn1.BitString{}, vi), good) {
		t.Fatal("test builder does not reproduce the good encoding")
	}
	vendor, _ := asn1.MarshalWithParams("Rampart", "tag:0,utf8")
	cases := map[string][]byte{
		"empty":                 {},
		"trailing byte":         append(append([]byte{}, good...), 0),
		"two FWIDs":             build(append(append([]byte{}, fw...), fw...), asn1.BitString{}, vi),
		"SHA-256 FWID":          build(fw256, asn1.BitString{}, vi),
		"debug and recovery":    build(fw, asn1.BitString{Bytes: []byte{0x30}, BitLength: 4}, vi),
		"notSecure":             build(fw, asn1.BitString{Bytes: []byte{0x40}, BitLength: 2}, vi),
		"non-DER trailing zero": build(fw, asn1.BitString{Bytes: []byte{0x10}, BitLength: 8}, vi),
		"short config":          build(fw, asn1.BitString{}, viShort),
		"extra field":           build(fw, asn1.BitString{}, vi, vendor),
		"vendor first":          append([]byte{}, good[:2]...),
	}
	for name, der := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseTcbInfo(der); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func certWith(t *testing.T, exts ...pkix.Extension) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "test"},
		NotBefore:       time.Unix(0, 0),
		NotAfter:        time.Unix(1<<32, 0),
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestFromCertificate(t *testing.T) {
	m := sample(ModeDebug)
	ext, err := Extension(m)
	if err != nil {
		t.Fatal(err)
	}
	if !ext.Critical || !ext.Id.Equal(OIDTcbInfo) || OIDTcbInfo.String() != "2.23.133.5.4.1" {
		t.Fatalf("extension: %+v", ext)
	}
	got, err := FromCertificate(certWith(t, ext))
	if err != nil || got != m {
		t.Fatalf("FromCertificate: %+v, %v", got, err)
	}

	if _, err := FromCertificate(certWith(t)); !errors.Is(err, ErrMissing) {
		t.Fatalf("no extension: got %v, want ErrMissing", err)
	}
	ext.Critical = false
	if _, err := FromCertificate(certWith(t, ext)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "critical") {
		t.Fatalf("non-critical extension: got %v", err)
	}
}

func FuzzParseTcbInfo(f *testing.F) {
	for _, mode := range []Mode{ModeNotConfigured, ModeNormal, ModeDebug, ModeRecovery} {
		der, _ := MarshalTcbInfo(sample(mode))
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		m, err := ParseTcbInfo(der)
		if err != nil {
			return
		}
		again, err := MarshalTcbInfo(m)
		if err != nil {
			t.Fatalf("parsed value does not marshal: %v", err)
		}
		if !bytes.Equal(again, der) {
			t.Fatalf("accepted a non-canonical encoding:\n in %x\nout %x", der, again)
		}
	})
}
