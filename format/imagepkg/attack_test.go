package imagepkg

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t), newKey(t)
	big := bytes.Repeat([]byte("rampart "), 100_000)
	for name, tc := range map[string]struct {
		m       Manifest
		payload []byte
	}{
		"application":   {application(vectorPayload), vectorPayload},
		"runtime":       {runtimeManifest(big), big},
		"empty payload": {runtimeManifest(nil), nil},
	} {
		t.Run(name, func(t *testing.T) {
			pkg := pack(t, tc.m, tc.payload, k1, k2)
			for _, k := range []*ecdsa.PrivateKey{k1, k2} {
				h, payload, err := readAll(pkg, trust(k))
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(h.Manifest, tc.m) || !bytes.Equal(payload, tc.payload) {
					t.Fatalf("read back %+v, %d bytes", h.Manifest, len(payload))
				}
				if id, _ := h.Verify(trust(k)); id != KeyID(&k.PublicKey) {
					t.Errorf("Verify = %s, want %s", id, KeyID(&k.PublicKey))
				}
			}
		})
	}
}

// TestReadHeaderLeavesPayload: ReadHeader reads exactly the header, even from a reader that
// gives a byte at a time.
func TestReadHeaderLeavesPayload(t *testing.T) {
	t.Parallel()
	pkg := pack(t, application(vectorPayload), vectorPayload, newKey(t))
	r := iotest.OneByteReader(bytes.NewReader(pkg))
	if _, err := ReadHeader(r); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); !bytes.Equal(rest, vectorPayload) {
		t.Fatalf("after the header: %x", rest)
	}
}

func TestTamperedPayload(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	payload := bytes.Repeat([]byte{7}, 10_000)
	pkg := pack(t, runtimeManifest(payload), payload, k)
	for _, i := range []int{len(pkg) - 1, len(pkg) - len(payload), len(pkg) - 5000} {
		bad := bytes.Clone(pkg)
		bad[i] ^= 0x80
		_, _, err := readAll(bad, trust(k))
		if !errors.Is(err, ErrPayloadMismatch) || !strings.Contains(err.Error(), "SHA-256") {
			t.Errorf("byte %d flipped: %v", i, err)
		}
	}
}

// TestTamperedManifest flips each bit of the header in turn: no change is both read and
// verified.
func TestTamperedManifest(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, k)
	hdrLen := len(pkg) - len(vectorPayload)
	for i := 0; i < hdrLen; i++ {
		for bit := 0; bit < 8; bit++ {
			bad := bytes.Clone(pkg)
			bad[i] ^= 1 << bit
			if _, _, err := readAll(bad, trust(k)); err == nil {
				t.Fatalf("byte %d bit %d flipped: accepted", i, bit)
			}
		}
	}
	// A change that keeps the manifest well-formed (another image ID) is caught by the
	// signature.
	h, err := ReadHeader(bytes.NewReader(pkg))
	if err != nil {
		t.Fatal(err)
	}
	mb := bytes.Replace(h.ManifestBytes, []byte(h.Manifest.ImageID), []byte(ident.NewID()), 1)
	bad := bytes.Replace(pkg, h.ManifestBytes, mb, 1)
	_, _, err = readAll(bad, trust(k))
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "does not match the manifest") {
		t.Errorf("another image ID: %v", err)
	}
}

func TestSignatureByUnknownKey(t *testing.T) {
	t.Parallel()
	signer, trusted := newKey(t), newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, signer)
	h, err := ReadHeader(bytes.NewReader(pkg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Verify(trust(trusted)); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "unknown keys") {
		t.Errorf("signed by an unknown key: %v", err)
	}
	if _, err := h.Verify(nil); !errors.Is(err, ErrUntrusted) {
		t.Errorf("nothing trusted: %v", err)
	}
	// The trusted key filed under the signer's key ID does not count.
	misfiled := map[string]*ecdsa.PublicKey{KeyID(&signer.PublicKey): &trusted.PublicKey}
	if _, err := h.Verify(misfiled); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a key under another's ID: %v", err)
	}
	// Only P-256: a P-384 key is not trusted, even under its own ID.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := h.Verify(map[string]*ecdsa.PublicKey{KeyID(&p384.PublicKey): &p384.PublicKey}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("P-384: %v", err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, application(vectorPayload), bytes.NewReader(vectorPayload), p384); err == nil || buf.Len() > 0 {
		t.Errorf("Write signed with P-384: %v", err)
	}
	// One trusted signature among others is enough.
	pkg = pack(t, application(vectorPayload), vectorPayload, signer, trusted)
	if _, _, err := readAll(pkg, trust(trusted)); err != nil {
		t.Errorf("second signature trusted: %v", err)
	}
}

// endless is a reader that never ends.
type endless struct{ n int64 }

func (e *endless) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	e.n += int64(len(b))
	return len(b), nil
}

func TestEndlessData(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, k)
	_, _, err := readAll(append(bytes.Clone(pkg), 'x'), trust(k))
	if !errors.Is(err, ErrPayloadMismatch) || !strings.Contains(err.Error(), "more bytes follow") {
		t.Errorf("one byte more: %v", err)
	}
	// An endless stream after the header: the payload reader stops one byte past the end.
	hdr := pkg[:len(pkg)-len(vectorPayload)]
	src := &endless{}
	r := io.MultiReader(bytes.NewReader(hdr), src)
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, h.Payload(r))
	if !errors.Is(err, ErrPayloadMismatch) || n != h.Manifest.PayloadSize {
		t.Errorf("endless payload: copied %d, %v", n, err)
	}
	if src.n > 32<<10 {
		t.Errorf("read %d bytes of an endless payload", src.n)
	}
	// Write refuses to pack more than declared.
	err = Write(io.Discard, application(vectorPayload), &endless{}, k)
	if !errors.Is(err, ErrPayloadMismatch) {
		t.Errorf("Write of an endless payload: %v", err)
	}
}

func TestShortPayload(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, k)
	for cut := 1; cut <= len(vectorPayload); cut++ {
		_, _, err := readAll(pkg[:len(pkg)-cut], trust(k))
		if !errors.Is(err, ErrPayloadMismatch) || !strings.Contains(err.Error(), "ends after") {
			t.Errorf("%d bytes short: %v", cut, err)
		}
	}
	err := Write(io.Discard, application(vectorPayload), bytes.NewReader(vectorPayload[:3]), k)
	if !errors.Is(err, ErrPayloadMismatch) {
		t.Errorf("Write of a short payload: %v", err)
	}
}

// TestTruncatedHeader: a stream that ends anywhere in the header is malformed, not a fault.
func TestTruncatedHeader(t *testing.T) {
	t.Parallel()
	pkg := pack(t, application(vectorPayload), vectorPayload, newKey(t))
	for n := 0; n < len(pkg)-len(vectorPayload); n++ {
		if _, err := ReadHeader(bytes.NewReader(pkg[:n])); !errors.Is(err, ErrMalformed) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// TestReadFault: an error from the reader is passed on, not taken for a bad package.
func TestReadFault(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, k)
	fault := errors.New("connection reset")
	_, err := ReadHeader(io.MultiReader(bytes.NewReader(pkg[:20]), iotest.ErrReader(fault)))
	if !errors.Is(err, fault) || errors.Is(err, ErrMalformed) {
		t.Errorf("fault in the header: %v", err)
	}
	r := io.MultiReader(bytes.NewReader(pkg[:len(pkg)-2]), iotest.ErrReader(fault))
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(h.Payload(r)); !errors.Is(err, fault) || errors.Is(err, ErrPayloadMismatch) {
		t.Errorf("fault in the payload: %v", err)
	}
}

func TestOversizedManifest(t *testing.T) {
	t.Parallel()
	for _, n := range []uint32{MaxManifestSize + 1, 1 << 31, 0xffffffff} {
		in := append([]byte(Magic), binary.BigEndian.AppendUint32(nil, n)...)
		src := &endless{}
		_, err := ReadHeader(io.MultiReader(bytes.NewReader(in), src))
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("manifest length %d: %v", n, err)
		}
		if src.n > 0 {
			t.Errorf("manifest length %d: read %d bytes of it", n, src.n)
		}
	}
	in := append([]byte(Magic), 0, 0, 0, 0)
	if _, err := ReadHeader(bytes.NewReader(in)); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty manifest: %v", err)
	}
}

// withCount returns pkg with its signature count set to n.
func withCount(t *testing.T, pkg []byte, n byte) []byte {
	t.Helper()
	bad := bytes.Clone(pkg)
	bad[len(Magic)+4+int(binary.BigEndian.Uint32(pkg[8:12]))] = n
	return bad
}

func TestTooManySignatures(t *testing.T) {
	t.Parallel()
	keys := make([]*ecdsa.PrivateKey, MaxSignatures+1)
	for i := range keys {
		keys[i] = newKey(t)
	}
	pkg := pack(t, application(vectorPayload), vectorPayload, keys[:MaxSignatures]...)
	if _, _, err := readAll(pkg, trust(keys[MaxSignatures-1])); err != nil {
		t.Fatalf("%d signatures: %v", MaxSignatures, err)
	}
	if _, err := ReadHeader(bytes.NewReader(withCount(t, pkg, MaxSignatures+1))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("count %d: %v", MaxSignatures+1, err)
	}
	if _, err := ReadHeader(bytes.NewReader(withCount(t, pkg, 255))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("count 255: %v", err)
	}
	if _, err := ReadHeader(bytes.NewReader(withCount(t, pkg, 0))); !errors.Is(err, ErrMalformed) {
		t.Errorf("count 0: %v", err)
	}
	err := Write(io.Discard, application(vectorPayload), bytes.NewReader(vectorPayload), signers(keys...)...)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write with %d signers: %v", len(keys), err)
	}
	if err := Write(io.Discard, application(vectorPayload), bytes.NewReader(vectorPayload)); err == nil {
		t.Error("Write with no signer succeeded")
	}
}

func TestSignatureFraming(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, k)
	at := len(Magic) + 4 + int(binary.BigEndian.Uint32(pkg[8:12])) + 1 // key ID length
	set := func(i int, b ...byte) []byte { bad := bytes.Clone(pkg); copy(bad[i:], b); return bad }
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"key ID length 32":       {set(at, 32), ErrMalformed},
		"key ID uppercase":       {set(at+1, 'A'), ErrMalformed},
		"key ID not hex":         {set(at+1, '/'), ErrMalformed},
		"signature length 0":     {set(at+65, 0, 0), ErrMalformed},
		"signature length 129":   {set(at+65, 0, 129), ErrTooLarge},
		"signature length 65535": {set(at+65, 0xff, 0xff), ErrTooLarge},
		"bad magic":              {set(0, 'X'), ErrMalformed},
		"other format version":   {set(5, '2'), ErrMalformed},
	} {
		if _, err := ReadHeader(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// The same key twice is refused, reading and writing.
	hdr, err := header(pkg[12:at-1], signers(k))
	if err != nil {
		t.Fatal(err)
	}
	sig := hdr[at:]
	twice := append(append(withCount(t, pkg[:at], 2), sig...), sig...)
	if _, err := ReadHeader(bytes.NewReader(twice)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "signs twice") {
		t.Errorf("one key twice: %v", err)
	}
	if err := Write(io.Discard, application(vectorPayload), bytes.NewReader(vectorPayload), k, k); err == nil {
		t.Error("Write with one key twice succeeded")
	}
}

// manifestJSON returns m as a JSON object to edit.
func manifestJSON(t *testing.T, m Manifest) map[string]any {
	t.Helper()
	b, _ := json.Marshal(m)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUnknownManifestField(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	good, _ := json.Marshal(application(vectorPayload))
	edit := func(f func(v map[string]any)) []byte {
		v := manifestJSON(t, application(vectorPayload))
		f(v)
		b, _ := json.Marshal(v)
		return b
	}
	for name, tc := range map[string]struct {
		mb   []byte
		want string
	}{
		"unknown field":     {edit(func(v map[string]any) { v["debug"] = true }), `unknown field "debug"`},
		"field in capitals": {edit(func(v map[string]any) { v["Image_ID"] = v["image_id"]; delete(v, "image_id") }), `unknown field "Image_ID"`},
		"unknown capability": {edit(func(v map[string]any) {
			v["app_manifest"].(map[string]any)["Capabilities"].(map[string]any)["Camera"] = true
		}), `app_manifest.Capabilities: unknown field "Camera"`},
		"duplicate key":  {append([]byte(`{"type":"runtime",`), good[1:]...), `key "type" appears twice`},
		"trailing data":  {append(bytes.Clone(good), []byte(` {}`)...), "trailing data"},
		"not an object":  {[]byte(`"x"`), "cannot unmarshal string"},
		"invalid UTF-8":  {append(bytes.Clone(good[:len(good)-1]), []byte(",\"\xff\":1}")...), "UTF-8"},
		"null sha256":    {edit(func(v map[string]any) { v["payload_sha256"] = nil }), "payload_sha256 is missing"},
		"sha256 in caps": {edit(func(v map[string]any) { v["payload_sha256"] = strings.ToUpper(v["payload_sha256"].(string)) }), "invalid digest"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadHeader(bytes.NewReader(rawPackage(t, tc.mb, vectorPayload, k)))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want ErrMalformed and %q", err, tc.want)
			}
		})
	}
}

func TestPathTraversalInNames(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	tests := []struct {
		name string
		edit func(m *Manifest)
		want string
	}{
		{"name ../x", func(m *Manifest) { m.Name = "../x" }, "name: invalid name"},
		{"name a/b", func(m *Manifest) { m.Name = "a/b" }, "name: invalid name"},
		{"name a\\b", func(m *Manifest) { m.Name = `a\b` }, "name: invalid name"},
		{"name empty", func(m *Manifest) { m.Name = "" }, "name: invalid name"},
		{"name NUL", func(m *Manifest) { m.Name = "a\x00" }, "name: invalid name"},
		{"image ID path", func(m *Manifest) { m.ImageID = "../../../etc/passwd" }, "image_id"},
		{"image ID uppercase", func(m *Manifest) { m.ImageID = strings.ToUpper(m.ImageID) }, "image_id"},
		{"image ID empty", func(m *Manifest) { m.ImageID = "" }, "image_id"},
		{"component ID path", func(m *Manifest) { m.ComponentID = "..%2f..%2fx"; m.App.ComponentId = m.ComponentID }, "component_id"},
		{"app component ID differs", func(m *Manifest) { m.App.ComponentId = ident.NewID() }, "differs from component_id"},
		{"entry point path", func(m *Manifest) { m.App.EntryPoint = "../../bin/sh.wasm" }, "EntryPoint"},
		{"version path", func(m *Manifest) { m.Version = "../1" }, "version"},
		{"version slash", func(m *Manifest) { m.Version = "1/2" }, "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := application(vectorPayload)
			tt.edit(&m)
			err := Write(io.Discard, m, bytes.NewReader(vectorPayload), k)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write: %v, want ErrMalformed and %q", err, tt.want)
			}
			mb, _ := json.Marshal(m)
			_, err = ReadHeader(bytes.NewReader(rawPackage(t, mb, vectorPayload, k)))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadHeader: %v, want ErrMalformed and %q", err, tt.want)
			}
		})
	}
}

func TestManifestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(m *Manifest)
		want error // nil: valid
	}{
		{"valid", func(m *Manifest) {}, nil},
		{"format 0", func(m *Manifest) { m.Format = 0 }, ErrMalformed},
		{"format 2", func(m *Manifest) { m.Format = 2 }, ErrMalformed},
		{"version semver", func(m *Manifest) { m.Version = "2.1.0-rc.1+build.7" }, nil},
		{"version 40", func(m *Manifest) { m.Version = strings.Repeat("9", 40) }, nil},
		{"version 41", func(m *Manifest) { m.Version = strings.Repeat("9", 41) }, ErrMalformed},
		{"version empty", func(m *Manifest) { m.Version = "" }, ErrMalformed},
		{"version starts with dot", func(m *Manifest) { m.Version = ".1" }, ErrMalformed},
		{"version starts with v", func(m *Manifest) { m.Version = "v1" }, nil},
		{"version space", func(m *Manifest) { m.Version = "1 0" }, ErrMalformed},
		{"type other", func(m *Manifest) { m.Type = "library" }, ErrMalformed},
		{"type in capitals", func(m *Manifest) { m.Type = "Application" }, ErrMalformed},
		{"application without app manifest", func(m *Manifest) { m.App = nil }, ErrMalformed},
		{"runtime with app manifest", func(m *Manifest) { m.Type = TypeRuntime }, ErrMalformed},
		{"invalid app manifest", func(m *Manifest) { m.App.Capabilities.Gpio = []int{5000} }, manifest.ErrInvalid},
		{"payload size negative", func(m *Manifest) { m.PayloadSize = -1 }, ErrMalformed},
		{"payload size at limit", func(m *Manifest) { m.PayloadSize = MaxPayloadSize }, nil},
		{"payload size over limit", func(m *Manifest) { m.PayloadSize = MaxPayloadSize + 1 }, ErrTooLarge},
		{"payload sha256 missing", func(m *Manifest) { m.PayloadSHA256 = ident.Digest{} }, ErrMalformed},
		{"empty payload, other sha256", func(m *Manifest) { m.PayloadSize = 0 }, ErrMalformed},
		{"empty payload", func(m *Manifest) { m.PayloadSize = 0; m.PayloadSHA256 = ident.SHA256(nil) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := application(vectorPayload)
			tt.edit(&m)
			err := m.Validate()
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Validate: %v, want %v", err, tt.want)
			}
			if err != nil && errors.Is(err, manifest.ErrInvalid) && !errors.Is(err, ErrMalformed) {
				t.Errorf("an invalid app manifest is not ErrMalformed: %v", err)
			}
		})
	}
}

func TestResignReplacesSignatures(t *testing.T) {
	t.Parallel()
	developer, tenant := newKey(t), newKey(t)
	pkg := pack(t, application(vectorPayload), vectorPayload, developer)
	r := bytes.NewReader(pkg)
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Resign(&out, h, r, tenant); err != nil {
		t.Fatal(err)
	}
	h2, payload, err := readAll(out.Bytes(), trust(tenant))
	if err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := h2.Verify(trust(developer)); !errors.Is(err, ErrUntrusted) {
		t.Errorf("old key still verifies: %v", err)
	}
	if !bytes.Equal(h2.ManifestBytes, h.ManifestBytes) || !bytes.Equal(payload, vectorPayload) {
		t.Errorf("resigning changed the manifest bytes or the payload")
	}
	// The manifest's bytes are kept even where Write would encode them otherwise.
	vec, err := os.ReadFile("testdata/vector.rmpkg")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := os.ReadFile("testdata/vector.manifest.json")
	spaced := bytes.Replace(mb, []byte(`,"name"`), []byte(`, "name"`), 1)
	r = bytes.NewReader(rawPackage(t, spaced, vectorPayload, developer))
	if h, err = ReadHeader(r); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Resign(&out, h, r, tenant); err != nil {
		t.Fatal(err)
	}
	if h2, _, err = readAll(out.Bytes(), trust(tenant)); err != nil || !bytes.Equal(h2.ManifestBytes, spaced) {
		t.Errorf("resigned manifest %s, %v", h2.ManifestBytes, err)
	}
	// A payload that does not match is refused.
	r = bytes.NewReader(vec)
	h, _ = ReadHeader(r)
	if err := Resign(io.Discard, h, strings.NewReader("other"), tenant); !errors.Is(err, ErrPayloadMismatch) {
		t.Errorf("Resign with another payload: %v", err)
	}
	// So is a header whose Manifest was changed without its bytes.
	h.Manifest.Name = "Other"
	if err := Resign(io.Discard, h, bytes.NewReader(vectorPayload), tenant); !errors.Is(err, ErrMalformed) {
		t.Errorf("Resign of an edited Manifest: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	k := testPublicKey(t)
	if id := KeyID(k); len(id) != 64 || id != string(ident.DeviceIDFromPublicKey(readPEM(t, "testdata/test-key.pub.pem"))) {
		t.Errorf("KeyID = %s", id)
	}
	if KeyID(nil) != "" {
		t.Error("KeyID(nil) is not empty")
	}
}

// FuzzReadHeader checks that ReadHeader never panics and that a header it accepts, written
// again by Resign and by Write, reads back to the same manifest.
func FuzzReadHeader(f *testing.F) {
	vec, err := os.ReadFile("testdata/vector.rmpkg")
	if err != nil {
		f.Fatal(err)
	}
	n := 12 + int(binary.BigEndian.Uint32(vec[8:12]))
	f.Add(vec)
	f.Add(vec[:n])
	f.Add(vec[:len(vec)-1])
	f.Add(append(bytes.Clone(vec), 0))
	for _, c := range []byte{0, 2, MaxSignatures + 1} {
		bad := bytes.Clone(vec)
		bad[n] = c
		f.Add(bad)
	}
	f.Add(append([]byte(Magic), 0xff, 0xff, 0xff, 0xff))
	f.Add(bytes.Replace(vec, []byte(`"format":1`), []byte(`"format":1,"x":0`), 1))
	f.Add(bytes.Replace(vec, []byte(`"type":"application"`), []byte(`"type":"runtime"`), 1))
	key := testKey(f)
	trusted := trust(key)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := ReadHeader(r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		if len(h.Signatures) < 1 || len(h.Signatures) > MaxSignatures || h.Manifest.Validate() != nil {
			t.Fatalf("accepted %d signatures, manifest %+v", len(h.Signatures), h.Manifest)
		}
		h.Verify(trusted)
		rest := b[len(b)-r.Len():]
		io.Copy(io.Discard, h.Payload(bytes.NewReader(rest)))

		again := func(name string, write func(w io.Writer) error) *Header {
			var out bytes.Buffer
			if err := write(&out); err != nil && !errors.Is(err, ErrPayloadMismatch) {
				t.Fatalf("%s: %v", name, err)
			}
			h2, err := ReadHeader(&out)
			if err != nil {
				t.Fatalf("%s wrote a header that does not read back: %v", name, err)
			}
			if !reflect.DeepEqual(h2.Manifest, h.Manifest) {
				t.Fatalf("%s changed the manifest:\n%+v\n%+v", name, h.Manifest, h2.Manifest)
			}
			if _, err := h2.Verify(trusted); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return h2
		}
		h2 := again("Resign", func(w io.Writer) error { return Resign(w, h, bytes.NewReader(rest), key) })
		if !bytes.Equal(h2.ManifestBytes, h.ManifestBytes) {
			t.Fatal("Resign changed the manifest's bytes")
		}
		again("Write", func(w io.Writer) error { return Write(w, h.Manifest, bytes.NewReader(rest), key) })
	})
}
