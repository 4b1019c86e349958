package imagepkg

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

var update = flag.Bool("update", false, "write testdata/vector.* again (with new signatures)")

// The test vector: an application with an empty WebAssembly module as its payload, signed by
// testdata/test-key.pem. Its bytes are in docs/image-package.md too.
const (
	vectorImageID     = "0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f"
	vectorComponentID = "5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
)

var vectorPayload = []byte("\x00asm\x01\x00\x00\x00")

func vectorManifest() Manifest {
	return Manifest{
		Format: 1, ImageID: vectorImageID, ComponentID: vectorComponentID, Name: "Toaster",
		Version: "1.0.0", Type: TypeApplication,
		PayloadSize: int64(len(vectorPayload)), PayloadSHA256: ident.SHA256(vectorPayload),
		App: &manifest.App{
			SchemaVersion: 1, ComponentId: vectorComponentID, Name: "Toaster", EntryPoint: "toaster.wasm",
			Capabilities: manifest.Capabilities{
				AllowedConnections: []string{"telemetry.example.com:443"},
				Gpio:               []int{4},
			},
		},
	}
}

func readPEM(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

func testKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, "testdata/test-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

func testPublicKey(t testing.TB) *ecdsa.PublicKey {
	t.Helper()
	k, err := x509.ParsePKIXPublicKey(readPEM(t, "testdata/test-key.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PublicKey)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func trust(keys ...*ecdsa.PrivateKey) map[string]*ecdsa.PublicKey {
	m := map[string]*ecdsa.PublicKey{}
	for _, k := range keys {
		m[KeyID(&k.PublicKey)] = &k.PublicKey
	}
	return m
}

func signers(keys ...*ecdsa.PrivateKey) []crypto.Signer {
	s := make([]crypto.Signer, len(keys))
	for i, k := range keys {
		s[i] = k
	}
	return s
}

// pack writes a package of m and payload signed by keys.
func pack(t testing.TB, m Manifest, payload []byte, keys ...*ecdsa.PrivateKey) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, m, bytes.NewReader(payload), signers(keys...)...); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawPackage builds a package around manifest bytes that Write would refuse to make, properly
// signed, so that a refusal shows that reading checks them and not only writing.
func rawPackage(t testing.TB, mb, payload []byte, keys ...*ecdsa.PrivateKey) []byte {
	t.Helper()
	hdr, err := header(mb, signers(keys...))
	if err != nil {
		t.Fatal(err)
	}
	return append(hdr, payload...)
}

// application returns a valid application manifest for payload.
func application(payload []byte) Manifest {
	m := vectorManifest()
	m.ImageID = ident.NewID()
	m.PayloadSize = int64(len(payload))
	m.PayloadSHA256 = ident.SHA256(payload)
	return m
}

func runtimeManifest(payload []byte) Manifest {
	return Manifest{
		Format: 1, ImageID: ident.NewID(), ComponentID: ident.NewID(), Name: "rampart-device",
		Version: "0.3.0-rc.1+linux.arm64", Type: TypeRuntime,
		PayloadSize: int64(len(payload)), PayloadSHA256: ident.SHA256(payload),
	}
}

// readAll reads a package: header, verification by trusted, payload. It returns the first error.
func readAll(pkg []byte, trusted map[string]*ecdsa.PublicKey) (*Header, []byte, error) {
	r := bytes.NewReader(pkg)
	h, err := ReadHeader(r)
	if err != nil {
		return nil, nil, err
	}
	if _, err := h.Verify(trusted); err != nil {
		return h, nil, err
	}
	payload, err := io.ReadAll(h.Payload(r))
	return h, payload, err
}

func TestVector(t *testing.T) {
	key := testKey(t)
	if *update {
		var b bytes.Buffer
		if err := Write(&b, vectorManifest(), bytes.NewReader(vectorPayload), key); err != nil {
			t.Fatal(err)
		}
		h, err := ReadHeader(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile("testdata/vector.manifest.json", h.ManifestBytes, 0o644)
		os.WriteFile("testdata/vector.rmpkg", b.Bytes(), 0o644)
	}
	pkg, err := os.ReadFile("testdata/vector.rmpkg")
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, err := os.ReadFile("testdata/vector.manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	pub := testPublicKey(t)
	if !pub.Equal(&key.PublicKey) {
		t.Fatal("testdata/test-key.pub.pem is not the public key of test-key.pem")
	}
	r := bytes.NewReader(pkg)
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Manifest, vectorManifest()) {
		t.Errorf("manifest %+v\nwant %+v", h.Manifest, vectorManifest())
	}
	if !bytes.Equal(h.ManifestBytes, wantBytes) {
		t.Errorf("manifest bytes\n%s\nwant\n%s", h.ManifestBytes, wantBytes)
	}
	// Write encodes a manifest exactly as the vector holds it: compact JSON in field order.
	if enc, _ := json.Marshal(vectorManifest()); !bytes.Equal(enc, wantBytes) {
		t.Errorf("Write would encode the manifest as\n%s\nwant\n%s", enc, wantBytes)
	}
	id, err := h.Verify(map[string]*ecdsa.PublicKey{KeyID(pub): pub})
	if err != nil {
		t.Fatal(err)
	}
	if id != KeyID(pub) {
		t.Errorf("Verify = %s, want %s", id, KeyID(pub))
	}
	payload, err := io.ReadAll(h.Payload(r))
	if err != nil || !bytes.Equal(payload, vectorPayload) {
		t.Errorf("payload %q, %v; want %q", payload, err, vectorPayload)
	}
}

// TestVectorLayout reads the vector by hand, as docs/image-package.md describes its bytes.
func TestVectorLayout(t *testing.T) {
	pkg, err := os.ReadFile("testdata/vector.rmpkg")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := os.ReadFile("testdata/vector.manifest.json")
	if string(pkg[:8]) != "RMPKG1\n\x00" {
		t.Fatalf("magic %q", pkg[:8])
	}
	n := int(binary.BigEndian.Uint32(pkg[8:12]))
	if n != len(mb) || !bytes.Equal(pkg[12:12+n], mb) {
		t.Fatalf("manifest length %d, want %d", n, len(mb))
	}
	p := pkg[12+n:]
	if p[0] != 1 || p[1] != 64 {
		t.Fatalf("signature count %d, key ID length %d; want 1, 64", p[0], p[1])
	}
	if got, want := string(p[2:66]), KeyID(testPublicKey(t)); got != want {
		t.Fatalf("key ID %s, want %s", got, want)
	}
	sl := int(binary.BigEndian.Uint16(p[66:68]))
	sig := p[68 : 68+sl]
	if !ecdsa.VerifyASN1(testPublicKey(t), signedDigest(mb), sig) {
		t.Fatal("the signature does not verify over SHA-256(context ‖ manifest)")
	}
	if !bytes.Equal(p[68+sl:], vectorPayload) {
		t.Fatalf("payload %x", p[68+sl:])
	}
}

// TestDocsHoldTheVector keeps docs/image-package.md's copy of the vector in step.
func TestDocsHoldTheVector(t *testing.T) {
	doc, err := os.ReadFile("../../docs/image-package.md")
	if err != nil {
		t.Fatal(err)
	}
	pkg, _ := os.ReadFile("testdata/vector.rmpkg")
	_, rest, ok := strings.Cut(string(doc), "<!-- vector.rmpkg base64 -->")
	block, _, ok2 := strings.Cut(rest, "<!-- end -->")
	if !ok || !ok2 {
		t.Fatal("docs/image-package.md has no vector.rmpkg base64 block")
	}
	block = strings.ReplaceAll(block, "```", "")
	got, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(block), ""))
	if err != nil || !bytes.Equal(got, pkg) {
		t.Errorf("docs/image-package.md's base64 is not testdata/vector.rmpkg (%v); its base64 is:\n%s", err, base64.StdEncoding.EncodeToString(pkg))
	}
	if id := KeyID(testPublicKey(t)); !strings.Contains(string(doc), id) {
		t.Errorf("docs/image-package.md does not give the test key's ID %s", id)
	}
}
