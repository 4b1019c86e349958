package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
	"github.com/veraison/go-cose"
)

// fixture is one device: its DeviceID key, an Alias key certified by it, and valid claims.
type fixture struct {
	deviceKey, aliasKey *ecdsa.PrivateKey
	certDER             []byte
	claims              Claims
}

type certOptions struct {
	signer   *ecdsa.PrivateKey // default: the DeviceID key
	issuerCN string            // default: the device ID
	meas     *dice.Measurements
	isCA     bool
	noTcb    bool
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{deviceKey: newKey(t), aliasKey: newKey(t)}
	spki, err := x509.MarshalPKIXPublicKey(&f.deviceKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f.claims = Claims{
		Nonce:     bytes.Repeat([]byte{0x4e}, 32),
		DeviceKey: spki,
		IssuedAt:  time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Measurements: dice.Measurements{
			Runtime:   sha512.Sum512([]byte("runtime 1.0")),
			Config:    sha512.Sum512([]byte("config")),
			Authority: sha512.Sum512([]byte("operator key")),
			Mode:      dice.ModeNormal,
		},
		Images: []Image{{ID: "6f1c2a8e-0b7d-4c43-9a51-3e2f1d0c9b8a", Digest: ident.SHA256([]byte("app"))}},
	}
	f.certDER = f.cert(t, certOptions{})
	return f
}

// cert issues an Alias certificate for f.aliasKey, as device/rot does, with the given faults.
func (f *fixture) cert(t testing.TB, o certOptions) []byte {
	t.Helper()
	if o.signer == nil {
		o.signer = f.deviceKey
	}
	if o.issuerCN == "" {
		o.issuerCN = ident.DeviceIDFromPublicKey(f.claims.DeviceKey).String()
	}
	meas := f.claims.Measurements
	if o.meas != nil {
		meas = *o.meas
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "alias"},
		NotBefore:             time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
	}
	if o.isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if !o.noTcb {
		ext, err := dice.Extension(meas)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{ext}
	}
	issuer := &x509.Certificate{Subject: pkix.Name{CommonName: o.issuerCN}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &f.aliasKey.PublicKey, o.signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (f *fixture) token(t testing.TB) []byte {
	t.Helper()
	b, err := Sign(f.claims, f.aliasKey, f.certDER)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withPayload signs an arbitrary payload, as a device under an attacker's control could.
func (f *fixture) withPayload(t testing.TB, payload []byte) []byte {
	t.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, f.aliasKey)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = f.certDER
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claimMap returns the valid claims as a map of raw values, to be tampered with.
func (f *fixture) claimMap(t testing.TB) map[int64]cbor.RawMessage {
	t.Helper()
	payload, err := marshalClaims(f.claims)
	if err != nil {
		t.Fatal(err)
	}
	var m map[int64]cbor.RawMessage
	if err := cbor.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// withRaw returns the claims of m with key set to raw bytes, which need not be well-formed CBOR
// (the encoder would refuse them).
func withRaw(t testing.TB, m map[int64]cbor.RawMessage, key int64, raw []byte) []byte {
	t.Helper()
	delete(m, key)
	rest := encode(t, m)
	if rest[0] < 0xa0 || rest[0] > 0xb6 {
		t.Fatalf("map header %#x", rest[0])
	}
	b := append([]byte{rest[0] + 1}, rest[1:]...)
	b = append(b, encode(t, key)...)
	return append(b, raw...)
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func claimsEqual(a, b Claims) bool {
	if len(a.Images) != len(b.Images) {
		return false
	}
	for i := range a.Images {
		if a.Images[i] != b.Images[i] {
			return false
		}
	}
	return bytes.Equal(a.Nonce, b.Nonce) && bytes.Equal(a.DeviceKey, b.DeviceKey) &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Measurements == b.Measurements &&
		bytes.Equal(a.ClaimProof, b.ClaimProof) && (a.ClaimProof == nil) == (b.ClaimProof == nil) &&
		reflect.DeepEqual(a.TPM, b.TPM)
}

func mustParse(t testing.TB, b []byte) *Evidence {
	t.Helper()
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSignParseVerifyRoundTrip(t *testing.T) {
	many := make([]Image, MaxImages)
	for i := range many {
		many[i] = Image{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Digest: ident.SHA256([]byte{byte(i)})}
	}
	tests := []struct {
		name   string
		change func(*Claims)
	}{
		{"normal mode", func(*Claims) {}},
		{"debug mode", func(c *Claims) { c.Measurements.Mode = dice.ModeDebug }},
		{"no images", func(c *Claims) { c.Images = nil }},
		{"64 images", func(c *Claims) { c.Images = many }},
		{"shortest nonce", func(c *Claims) { c.Nonce = c.Nonce[:MinNonceSize] }},
		{"longest nonce", func(c *Claims) { c.Nonce = bytes.Repeat([]byte{1}, MaxNonceSize) }},
		{"epoch", func(c *Claims) { c.IssuedAt = time.Unix(0, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.change(&f.claims)
			f.certDER = f.cert(t, certOptions{})
			b := f.token(t)
			e := mustParse(t, b)
			if err := e.Verify(); err != nil {
				t.Fatal(err)
			}
			if !claimsEqual(e.Claims, f.claims) {
				t.Fatalf("claims:\n got %+v\nwant %+v", e.Claims, f.claims)
			}
			if e.DeviceID != ident.DeviceIDFromPublicKey(f.claims.DeviceKey) {
				t.Fatalf("device ID %s", e.DeviceID)
			}
			if !bytes.Equal(e.AliasCert.Raw, f.certDER) {
				t.Fatal("alias certificate differs")
			}
		})
	}
}

// TestUEIDIsTheDeviceKeyHash pins the ueid claim's value.
func TestUEIDIsTheDeviceKeyHash(t *testing.T) {
	f := newFixture(t)
	var u []byte
	if err := cbor.Unmarshal(f.claimMap(t)[keyUEID], &u); err != nil {
		t.Fatal(err)
	}
	id := ident.DeviceIDFromPublicKey(f.claims.DeviceKey).String()
	if len(u) != 33 || u[0] != 0x01 || fmt.Sprintf("%x", u[1:]) != id {
		t.Fatalf("ueid %x, want 01 followed by %s", u, id)
	}
}

func TestSignRefusesInvalidClaims(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSPKI, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384SPKI, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	tooMany := make([]Image, MaxImages+1)
	for i := range tooMany {
		tooMany[i] = Image{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
	}
	dup := Image{ID: "6f1c2a8e-0b7d-4c43-9a51-3e2f1d0c9b8a"}
	tests := []struct {
		name   string
		change func(*Claims)
	}{
		{"nonce too short", func(c *Claims) { c.Nonce = c.Nonce[:MinNonceSize-1] }},
		{"nonce too long", func(c *Claims) { c.Nonce = make([]byte, MaxNonceSize+1) }},
		{"no device key", func(c *Claims) { c.DeviceKey = nil }},
		{"RSA device key", func(c *Claims) { c.DeviceKey = rsaSPKI }},
		{"P-384 device key", func(c *Claims) { c.DeviceKey = p384SPKI }},
		{"device key with trailing byte", func(c *Claims) { c.DeviceKey = append(bytes.Clone(c.DeviceKey), 0) }},
		{"zero time", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"after 9999", func(c *Claims) { c.IssuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"recovery mode", func(c *Claims) { c.Measurements.Mode = dice.ModeRecovery }},
		{"not-configured mode", func(c *Claims) { c.Measurements.Mode = dice.ModeNotConfigured }},
		{"65 images", func(c *Claims) { c.Images = tooMany }},
		{"image ID not a UUID", func(c *Claims) { c.Images = []Image{{ID: "app"}} }},
		{"image ID in upper case", func(c *Claims) { c.Images = []Image{{ID: strings.ToUpper(dup.ID)}} }},
		{"image listed twice", func(c *Claims) { c.Images = []Image{dup, dup} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.change(&f.claims)
			if _, err := Sign(f.claims, f.aliasKey, f.certDER); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestSignRefusesKeyNotInCertificate(t *testing.T) {
	f := newFixture(t)
	if _, err := Sign(f.claims, newKey(t), f.certDER); err == nil {
		t.Fatal("signed with a key the certificate is not for")
	}
	if _, err := Sign(f.claims, f.aliasKey, []byte("not a certificate")); err == nil {
		t.Fatal("signed with a broken certificate")
	}
}

func TestEvidenceSignedByAnotherKey(t *testing.T) {
	f := newFixture(t)
	b, err := sign(f.claims, newKey(t), f.certDER) // certificate for f.aliasKey, signature by another
	if err != nil {
		t.Fatal(err)
	}
	if err := mustParse(t, b).Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}

	// A signature flipped in one bit.
	b = f.token(t)
	b[len(b)-1] ^= 1
	if err := mustParse(t, b).Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("flipped signature: got %v, want ErrBadSignature", err)
	}

	// Claims changed after signing: another nonce, of the same length, in place.
	b = f.token(t)
	orig, _ := marshalClaims(f.claims)
	f.claims.Nonce = bytes.Repeat([]byte{0x4f}, len(f.claims.Nonce))
	changed, _ := marshalClaims(f.claims)
	tampered := bytes.Replace(b, orig, changed, 1)
	if bytes.Equal(tampered, b) {
		t.Fatal("test did not tamper")
	}
	if err := mustParse(t, tampered).Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered claims: got %v, want ErrBadSignature", err)
	}
}

func TestAliasCertNotSignedByDeviceKey(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		prep func(*fixture)
	}{
		// An attacker with its own key issues itself an Alias certificate naming the victim.
		{"signed by another key", func(f *fixture) { f.certDER = f.cert(t, certOptions{signer: newKey(t)}) }},
		// An attacker presents the victim's DeviceID key with the attacker's own chain.
		{"device key of another device", func(f *fixture) {
			victim := newFixture(t)
			f.claims.DeviceKey = victim.claims.DeviceKey
		}},
		{"issuer is not the device", func(f *fixture) { f.certDER = f.cert(t, certOptions{issuerCN: strings.Repeat("0", 64)}) }},
		{"certificate is a CA", func(f *fixture) { f.certDER = f.cert(t, certOptions{isCA: true}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := *f
			f.claims.Nonce = bytes.Clone(f.claims.Nonce)
			tt.prep(&f)
			err := mustParse(t, f.token(t)).Verify()
			if !errors.Is(err, ErrAliasNotCertified) {
				t.Fatalf("got %v, want ErrAliasNotCertified", err)
			}
		})
	}
}

func TestMeasurementsDifferFromCertificate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*dice.Measurements)
	}{
		{"another runtime", func(m *dice.Measurements) { m.Runtime[0] ^= 1 }},
		{"another config", func(m *dice.Measurements) { m.Config[63] ^= 1 }},
		{"another authority", func(m *dice.Measurements) { m.Authority[7] ^= 1 }},
		{"debug mode claimed as normal", func(m *dice.Measurements) { m.Mode = dice.ModeDebug }},
		{"recovery mode claimed as normal", func(m *dice.Measurements) { m.Mode = dice.ModeRecovery }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			certified := f.claims.Measurements
			tt.change(&certified)
			f.certDER = f.cert(t, certOptions{meas: &certified})
			if err := mustParse(t, f.token(t)).Verify(); !errors.Is(err, ErrMeasurementMismatch) {
				t.Fatalf("got %v, want ErrMeasurementMismatch", err)
			}
		})
	}
}

func TestAliasCertWithoutTcbInfo(t *testing.T) {
	f := newFixture(t)
	f.certDER = f.cert(t, certOptions{noTcb: true})
	if _, err := Parse(f.token(t)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

func TestEvidenceOver64KiB(t *testing.T) {
	f := newFixture(t)
	b := f.token(t)
	big := append(bytes.Clone(b), make([]byte, MaxSize+1-len(b))...)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	if _, err := Parse(big[:MaxSize]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("at the limit: got %v, want ErrMalformed", err)
	}
	// Sign does not make what Parse would refuse.
	f.certDER = f.cert(t, certOptions{})
	huge := make([]Image, MaxImages)
	for i := range huge {
		huge[i] = Image{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
	}
	f.claims.Images = huge
	if _, err := Sign(f.claims, f.aliasKey, f.certDER); err != nil {
		t.Fatalf("64 images do not fit in 64 KiB: %v", err)
	}
}

func wantMalformed(t *testing.T, b []byte) {
	t.Helper()
	e, err := Parse(b)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, %v; want ErrMalformed", e, err)
	}
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBadSignature) {
		t.Fatalf("error %v is in two classes", err)
	}
	t.Log(err)
}

// TestWithPayload checks the tests' tampering tool: untampered, its tokens are good, so that
// the refusals above are for the tampering.
func TestWithPayload(t *testing.T) {
	f := newFixture(t)
	payload, _ := marshalClaims(f.claims)
	for _, b := range [][]byte{f.withPayload(t, payload), f.withPayload(t, encode(t, f.claimMap(t)))} {
		e := mustParse(t, b)
		if err := e.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	m := f.claimMap(t)
	raw := m[keyImages]
	if e := mustParse(t, f.withPayload(t, withRaw(t, m, keyImages, raw))); !claimsEqual(e.Claims, f.claims) {
		t.Fatal("withRaw changed the claims")
	}
}

func TestMalformedCBORDuplicateKeys(t *testing.T) {
	f := newFixture(t)
	payload, _ := marshalClaims(f.claims)
	if payload[0] != 0xa7 {
		t.Fatalf("claims map header %#x, want 0xa7", payload[0])
	}
	// A second nonce after the first: a lax parser would take one or the other.
	dupNonce := append([]byte{0xa8}, payload[1:]...)
	dupNonce = append(dupNonce, 0x0a, 0x48, 1, 2, 3, 4, 5, 6, 7, 8)
	wantMalformed(t, f.withPayload(t, dupNonce))

	// The same in the protected header: two x5chain entries.
	ph := encode(t, map[int64]any{1: -7, 33: f.certDER})
	ph = append([]byte{0xa3}, ph[1:]...)
	ph = append(ph, encode(t, 33)...)
	ph = append(ph, encode(t, f.certDER)...)
	payloadB := encode(t, payload)
	tok := []byte{0xd2, 0x84}
	tok = append(tok, encode(t, ph)...)
	tok = append(tok, 0xa0)
	tok = append(tok, payloadB...)
	tok = append(tok, encode(t, make([]byte, 64))...)
	wantMalformed(t, tok)
}

func TestMalformedCBORDeepNesting(t *testing.T) {
	f := newFixture(t)
	deep := bytes.Repeat([]byte{0x81}, 10000)
	deep = append(deep, 0x00)
	// As a claim value.
	wantMalformed(t, f.withPayload(t, withRaw(t, f.claimMap(t), keyImages, deep)))
	// As the whole payload, and as the whole token.
	wantMalformed(t, f.withPayload(t, deep))
	wantMalformed(t, append([]byte{0xd2}, deep...))
	// Nested maps.
	maps := bytes.Repeat([]byte{0xa1, 0x01}, 1000)
	wantMalformed(t, f.withPayload(t, append(maps, 0x00)))
}

func TestMalformedCBORHugeLength(t *testing.T) {
	f := newFixture(t)
	huge := map[string][]byte{
		"byte string of 2^63-1 bytes": {0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"text string of 2^32 bytes":   {0x7b, 0, 0, 0, 1, 0, 0, 0, 0},
		"array of 2^64-1 elements":    {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"map of 2^32 pairs":           {0xbb, 0, 0, 0, 1, 0, 0, 0, 0},
		"array of 65 elements":        append([]byte{0x98, 65}, make([]byte, 65)...),
		"map of 17 pairs":             {0xb1, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 0, 15, 0, 16, 0},
	}
	for name, v := range huge {
		t.Run(name, func(t *testing.T) {
			wantMalformed(t, f.withPayload(t, withRaw(t, f.claimMap(t), keyImages, v)))
			// Lengths inside the COSE structure itself.
			wantMalformed(t, append([]byte{0xd2, 0x84}, v...))
		})
	}
}

func TestTrailingBytes(t *testing.T) {
	f := newFixture(t)
	wantMalformed(t, append(f.token(t), 0x00))
	wantMalformed(t, append(f.token(t), f.token(t)...))
	payload, _ := marshalClaims(f.claims)
	wantMalformed(t, f.withPayload(t, append(payload, 0x00)))
}

func TestUnknownClaim(t *testing.T) {
	f := newFixture(t)
	for _, key := range []int64{1, 2, 999, 265, -65539} {
		m := f.claimMap(t)
		m[key] = encode(t, 0)
		wantMalformed(t, f.withPayload(t, encode(t, m)))
	}
	// An unknown field in an image, and an unknown measurement.
	m := f.claimMap(t)
	m[keyImages] = encode(t, []map[int64]any{{1: f.claims.Images[0].ID, 2: f.claims.Images[0].Digest[:], 3: "extra"}})
	wantMalformed(t, f.withPayload(t, encode(t, m)))
	meas := encode(t, map[string][]byte{"runtime": make([]byte, 64), "config": make([]byte, 64), "authority": make([]byte, 64), "bootloader": make([]byte, 64)})
	m = f.claimMap(t)
	m[keyMeasurements] = encode(t, []any{[]any{MeasurementsContentFormat, meas}})
	wantMalformed(t, f.withPayload(t, encode(t, m)))
}

func TestMissingClaim(t *testing.T) {
	f := newFixture(t)
	for _, key := range requiredClaims {
		m := f.claimMap(t)
		delete(m, key)
		wantMalformed(t, f.withPayload(t, encode(t, m)))
	}
}

// TestMalformedClaimValues: each claim with a value of the wrong type, size or meaning.
func TestMalformedClaimValues(t *testing.T) {
	f := newFixture(t)
	otherKey, _ := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
	meas := func(m map[string][]byte) []byte { return encode(t, m) }
	good := map[string][]byte{"runtime": make([]byte, 64), "config": make([]byte, 64), "authority": make([]byte, 64)}
	short := map[string][]byte{"runtime": make([]byte, 32), "config": make([]byte, 64), "authority": make([]byte, 64)}
	noAuth := map[string][]byte{"runtime": make([]byte, 64), "config": make([]byte, 64)}
	tests := []struct {
		name  string
		key   int64
		value any
	}{
		{"iat as float", keyIAT, 1.5},
		{"iat negative", keyIAT, -1},
		{"iat after 9999", keyIAT, uint64(maxIAT + 1)},
		{"iat as tagged time", keyIAT, cbor.Tag{Number: 1, Content: 0}},
		{"nonce as text", keyNonce, "0123456789"},
		{"nonce too short", keyNonce, []byte{1, 2, 3}},
		{"nonce as array", keyNonce, [][]byte{make([]byte, 8)}},
		{"nonce null", keyNonce, nil},
		{"ueid of another key", keyUEID, ueid(otherKey)},
		{"ueid truncated", keyUEID, ueid(f.claims.DeviceKey)[:17]},
		{"dbgstat disabled", keyDbgStat, 1},
		{"dbgstat disabled permanently", keyDbgStat, 3},
		{"dbgstat negative", keyDbgStat, -1},
		{"measurements empty", keyMeasurements, []any{}},
		{"measurements other content-format", keyMeasurements, []any{[]any{60, meas(good)}}},
		{"measurements twice", keyMeasurements, []any{[]any{MeasurementsContentFormat, meas(good)}, []any{MeasurementsContentFormat, meas(good)}}},
		{"measurement digest short", keyMeasurements, []any{[]any{MeasurementsContentFormat, meas(short)}}},
		{"measurement missing", keyMeasurements, []any{[]any{MeasurementsContentFormat, meas(noAuth)}}},
		{"measurements not CBOR", keyMeasurements, []any{[]any{MeasurementsContentFormat, []byte{0xff}}}},
		{"measurements with a third element", keyMeasurements, []any{[]any{MeasurementsContentFormat, meas(good), 0}}},
		{"device key not SPKI", keyDeviceKey, []byte("key")},
		{"images null", keyImages, nil},
		{"image digest short", keyImages, []map[int64]any{{1: f.claims.Images[0].ID, 2: make([]byte, 31)}}},
		{"image without digest", keyImages, []map[int64]any{{1: f.claims.Images[0].ID}}},
		{"image ID not UUID", keyImages, []map[int64]any{{1: "app", 2: make([]byte, 32)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := f.claimMap(t)
			m[tt.key] = encode(t, tt.value)
			wantMalformed(t, f.withPayload(t, encode(t, m)))
		})
	}
}

// TestNonCanonicalEncoding: the same claims in another valid CBOR encoding are refused, so a
// token has one encoding.
func TestNonCanonicalEncoding(t *testing.T) {
	f := newFixture(t)
	payload, _ := marshalClaims(f.claims)
	i := bytes.Index(payload, []byte{0x06, 0x1a}) // iat: key 6, uint32
	if i < 0 {
		t.Fatal("iat not found")
	}
	long := append(append(bytes.Clone(payload[:i+1]), 0x1b, 0, 0, 0, 0), payload[i+2:]...) // as uint64
	wantMalformed(t, f.withPayload(t, long))

	// Keys in another order.
	m := f.claimMap(t)
	var b []byte
	b = append(b, 0xa7)
	for _, k := range []int64{keyImages, keyDeviceKey, keyMeasurements, keyDbgStat, keyUEID, keyNonce, keyIAT} {
		b = append(b, encode(t, k)...)
		b = append(b, m[k]...)
	}
	if _, err := parseClaims(b); err == nil {
		t.Fatal("claims in reverse key order accepted")
	}
	wantMalformed(t, f.withPayload(t, b))

	// The COSE structure: a payload length in a longer form than needed.
	tok := f.token(t)
	enc := encode(t, payload)
	j := bytes.Index(tok, enc)
	var longer []byte
	longer = append(longer, tok[:j]...)
	longer = append(longer, 0x5a, 0, 0, byte(len(payload)>>8), byte(len(payload)))
	longer = append(longer, payload...)
	longer = append(longer, tok[j+len(enc):]...)
	wantMalformed(t, longer)
}

// TestMalformedCOSE: the envelope around the claims.
func TestMalformedCOSE(t *testing.T) {
	f := newFixture(t)
	payload, _ := marshalClaims(f.claims)
	protected := func(m map[int64]any) []byte { return encode(t, m) }
	token := func(ph []byte, unprotected any, sig []byte) []byte {
		return append([]byte{0xd2}, encode(t, []any{ph, unprotected, payload, sig})...)
	}
	goodPH := protected(map[int64]any{1: -7, 33: f.certDER})
	sig := make([]byte, 64)
	if _, err := Parse(token(goodPH, map[int64]any{}, sig)); err != nil {
		t.Fatalf("the test's own token does not parse: %v", err)
	}
	rsaLike := protected(map[int64]any{1: -37, 33: f.certDER})
	tests := map[string][]byte{
		"empty":                   {},
		"untagged":                encode(t, []any{goodPH, map[int64]any{}, payload, sig}),
		"COSE_Sign tag":           append([]byte{0xd8, 0x62}, encode(t, []any{goodPH, map[int64]any{}, payload, sig})...),
		"CWT tag around":          append([]byte{0xd8, 0x3d}, token(goodPH, map[int64]any{}, sig)...),
		"alg PS256":               token(rsaLike, map[int64]any{}, sig),
		"alg missing":             token(protected(map[int64]any{33: f.certDER}), map[int64]any{}, sig),
		"x5chain missing":         token(protected(map[int64]any{1: -7}), map[int64]any{}, sig),
		"x5chain as array":        token(protected(map[int64]any{1: -7, 33: [][]byte{f.certDER}}), map[int64]any{}, sig),
		"x5chain not certificate": token(protected(map[int64]any{1: -7, 33: []byte("cert")}), map[int64]any{}, sig),
		"content type header":     token(protected(map[int64]any{1: -7, 3: 61, 33: f.certDER}), map[int64]any{}, sig),
		"unprotected kid":         token(goodPH, map[int64]any{4: []byte("kid")}, sig),
		"unprotected null":        token(goodPH, nil, sig),
		"signature short":         token(goodPH, map[int64]any{}, sig[:63]),
		"signature missing":       token(goodPH, map[int64]any{}, nil),
		"three elements":          append([]byte{0xd2}, encode(t, []any{goodPH, map[int64]any{}, payload})...),
		"payload detached":        append([]byte{0xd2}, encode(t, []any{goodPH, map[int64]any{}, nil, sig})...),
		"indefinite array":        append([]byte{0xd2, 0x9f}, append(encode(t, goodPH)[0:0], 0xff)...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) { wantMalformed(t, b) })
	}
}

func FuzzParse(f *testing.F) {
	fx := newFixture(f)
	valid := fx.token(f)
	f.Add(valid)
	fx.claims.Images = nil
	fx.claims.Measurements.Mode = dice.ModeDebug
	fx.certDER = fx.cert(f, certOptions{})
	f.Add(fx.token(f))
	payload, _ := marshalClaims(fx.claims)
	dup := append([]byte{0xa8}, payload[1:]...)
	f.Add(fx.withPayload(f, append(dup, 0x0a, 0x48, 1, 2, 3, 4, 5, 6, 7, 8)))
	f.Add(fx.withPayload(f, append(bytes.Repeat([]byte{0x81}, 64), 0)))
	f.Add(fx.withPayload(f, []byte{0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
	f.Add(fx.withPayload(f, append(payload, 0)))
	f.Add(append(bytes.Clone(valid), 0))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	fx.claims.ClaimProof = bytes.Repeat([]byte{0xc1}, ClaimProofSize)
	f.Add(fx.token(f))
	m := fx.claimMap(f)
	f.Add(fx.withPayload(f, withRaw(f, m, keyClaimProof, encode(f, []byte{1, 2, 3}))))
	fx.claims.TPM = sampleTPM()
	if tpm, err := SignTPM(fx.claims, fx.aliasKey); err == nil {
		f.Add(tpm)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error outside the classes: %v", err)
			}
			return
		}
		e.Verify() // must not panic; most inputs fail
		payload, err := marshalClaims(e.Claims)
		if err != nil {
			t.Fatalf("parsed claims do not encode: %v", err)
		}
		again, err := parseClaims(payload)
		if err != nil {
			t.Fatalf("re-encoded claims do not parse: %v", err)
		}
		if !claimsEqual(again, e.Claims) {
			t.Fatalf("claims changed in a round trip:\n%+v\n%+v", e.Claims, again)
		}
		ph := protectedWire{Alg: -7}
		if e.AliasCert != nil {
			ph.X5Chain = e.AliasCert.Raw
		}
		tok, err := encodeSign1(ph, payload, e.msg.Signature)
		if err != nil || !bytes.Equal(tok, b) {
			t.Fatalf("accepted a token that does not re-encode to itself")
		}
	})
}

func TestVerifyNeedsParse(t *testing.T) {
	if err := (&Evidence{}).Verify(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

func TestClaimProof(t *testing.T) {
	f := newFixture(t)
	f.claims.ClaimProof = bytes.Repeat([]byte{0xc1}, ClaimProofSize)
	e := mustParse(t, f.token(t))
	if err := e.Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Claims.ClaimProof, f.claims.ClaimProof) {
		t.Fatalf("claim proof %x, want %x", e.Claims.ClaimProof, f.claims.ClaimProof)
	}
	f.claims.ClaimProof = nil
	if e := mustParse(t, f.token(t)); e.Claims.ClaimProof != nil {
		t.Fatal("a token without a claim proof parsed with one")
	}
	for name, raw := range map[string][]byte{
		"short": encode(t, []byte{1, 2, 3}),
		"long":  encode(t, make([]byte, ClaimProofSize+1)),
		"empty": encode(t, []byte{}),
		"text":  encode(t, strings.Repeat("a", ClaimProofSize)),
		"array": encode(t, []int{1}),
		"null":  {0xf6},
	} {
		t.Run(name, func(t *testing.T) {
			wantMalformed(t, f.withPayload(t, withRaw(t, f.claimMap(t), keyClaimProof, raw)))
		})
	}
	if _, err := Sign(Claims{Nonce: f.claims.Nonce, DeviceKey: f.claims.DeviceKey, Measurements: f.claims.Measurements,
		ClaimProof: []byte{1}}, f.aliasKey, f.certDER); err == nil {
		t.Fatal("signed a claim proof of one byte")
	}
}
