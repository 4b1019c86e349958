package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
)

// ---- Key-encryption key ----

func newKEK(t *testing.T) *pki.KEK {
	t.Helper()
	var b [pki.KEKSize]byte
	rand.Read(b[:])
	k, err := pki.ParseKEK(hex.EncodeToString(b[:]))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKEKSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	k := newKEK(t)
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{0}},
		{"CA key sized", bytes.Repeat([]byte{0xa5}, 138)},
		{"large", bytes.Repeat([]byte("rampart"), 10000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed := k.Seal("tenant-ca:t:c", tc.plaintext)
			if len(tc.plaintext) >= 16 && bytes.Contains(sealed, tc.plaintext) {
				t.Fatal("sealed bytes contain the plaintext")
			}
			if again := k.Seal("tenant-ca:t:c", tc.plaintext); bytes.Equal(again, sealed) {
				t.Fatal("sealing twice gave the same bytes: the nonce is not random")
			}
			got, err := k.Open("tenant-ca:t:c", sealed)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open = %x, want %x", got, tc.plaintext)
			}
		})
	}
}

func TestSealedKeyCannotBeSwappedBetweenTenants(t *testing.T) {
	t.Parallel()
	k := newKEK(t)
	tenantA, tenantB, caID := ident.TenantID(ident.NewID()), ident.TenantID(ident.NewID()), ident.NewID()
	sealed := k.Seal(pki.SealPurpose(tenantA, caID), []byte("tenant A's CA key"))
	for _, tc := range []struct{ name, purpose string }{
		{"other tenant", pki.SealPurpose(tenantB, caID)},
		{"other CA of the same tenant", pki.SealPurpose(tenantA, ident.NewID())},
		{"empty purpose", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Open(tc.purpose, sealed); !errors.Is(err, pki.ErrUnseal) {
				t.Fatalf("Open with purpose %q: err = %v, want ErrUnseal", tc.purpose, err)
			}
		})
	}

	// The same attack on a store: someone with write access to the database, but not the KEK,
	// gives tenant A a CA whose sealed key is another's. The Authority must not sign with it.
	each(t, func(t *testing.T, e *env) {
		a, b := e.tenant(t, "acme"), e.tenant(t, "globex")
		recA, recB := e.activeRecord(t, a.ID), e.activeRecord(t, b.ID)
		for _, tc := range []struct {
			name   string
			donor  store.CARecord
			target ident.TenantID
		}{
			{"B's key in a CA of A", recB, a.ID},
			{"A's older key under a new CA ID of A", recA, a.ID},
		} {
			swapped := store.CARecord{CA: tc.donor.CA, CertDER: tc.donor.CertDER, SealedKey: tc.donor.SealedKey}
			swapped.ID, swapped.TenantID, swapped.Active = ident.NewID(), tc.target, true
			e.update(t, func(tx *store.Tx) error { return tx.AddCA(swapped) })
			id, key := newDevice(t)
			fresh := pki.NewAuthority(e.st, e.kek, nil)
			if _, _, err := fresh.IssueDevice(t.Context(), tc.target, id, key.Public()); !errors.Is(err, pki.ErrUnseal) {
				t.Errorf("%s: IssueDevice err = %v, want ErrUnseal", tc.name, err)
			}
		}
	})
}

func TestSealedKeyTamperingDetected(t *testing.T) {
	t.Parallel()
	k, other := newKEK(t), newKEK(t)
	const purpose = "tenant-ca:a:b"
	sealed := k.Seal(purpose, []byte("a CA private key, PKCS#8"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	cases := []struct {
		name   string
		kek    *pki.KEK
		sealed []byte
	}{
		{"another KEK", other, sealed},
		{"truncated", k, sealed[:len(sealed)-1]},
		{"shorter than nonce and tag", k, sealed[:20]},
		{"empty", k, nil},
		{"byte appended", k, append(bytes.Clone(sealed), 0)},
	}
	for i := range sealed {
		cases = append(cases, struct {
			name   string
			kek    *pki.KEK
			sealed []byte
		}{"bit flipped in byte " + strconv.Itoa(i), k, flip(i)})
	}
	for _, tc := range cases {
		if _, err := tc.kek.Open(purpose, tc.sealed); !errors.Is(err, pki.ErrUnseal) {
			t.Errorf("%s: err = %v, want ErrUnseal", tc.name, err)
		}
	}
}

func TestParseKEK(t *testing.T) {
	t.Parallel()
	valid := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"64 hex", valid, true},
		{"surrounded by space and newline", "  " + valid + "\n", true},
		{"upper case", strings.ToUpper(valid), true},
		{"empty", "", false},
		{"63 hex", valid[:63], false},
		{"62 hex (31 bytes)", valid[:62], false},
		{"66 hex (33 bytes)", valid + "00", false},
		{"128 hex (AES-256 twice)", valid + valid, false},
		{"non-hex character", valid[:63] + "g", false},
		{"base64 of 32 bytes", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", false},
		{"space inside", valid[:32] + " " + valid[32:], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := pki.ParseKEK(tc.text)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseKEK(%q) err = %v, want ok=%v", tc.text, err, tc.ok)
			}
			if tc.ok {
				if _, err := k.Open("p", k.Seal("p", []byte("x"))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// Surrounding space is not part of the key: both spellings are the same key.
	k1, _ := pki.ParseKEK(valid)
	k2, _ := pki.ParseKEK("\t" + strings.ToUpper(valid) + "\r\n")
	if _, err := k2.Open("p", k1.Seal("p", []byte("x"))); err != nil {
		t.Fatalf("same key spelt differently does not open: %v", err)
	}
}

func TestKEKErrorDoesNotLeakSecret(t *testing.T) {
	t.Parallel()
	secret := "5f2b9c1e8d7a4036b1e29f8c7d6a5b4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c"
	for _, tc := range []struct{ name, text string }{
		{"one character short", secret[:63]},
		{"one character long", secret + "d"},
		{"one bad character", secret[:40] + "z" + secret[41:]},
		{"bad character first", "x" + secret[1:]},
		{"a password instead", "correct horse battery staple"},
		{"two keys", secret + "\n" + secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pki.ParseKEK(tc.text)
			if err == nil {
				t.Fatal("ParseKEK accepted it")
			}
			assertNoLeak(t, err, tc.text)

			// The same through a key file: the path may be named, the content not.
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = pki.LoadKEK(path)
			if err == nil {
				t.Fatal("LoadKEK accepted it")
			}
			assertNoLeak(t, err, tc.text)
		})
	}
}

// assertNoLeak fails if err's text shows any 8 consecutive characters of secret, or any of its
// characters quoted alone (as encoding/hex's "invalid byte: U+007A 'z'" would).
func assertNoLeak(t *testing.T, err error, secret string) {
	t.Helper()
	msg := err.Error()
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+8]) {
			t.Fatalf("error %q shows part of the secret (%q)", msg, secret[i:i+8])
		}
	}
	if strings.Contains(msg, "invalid byte") || strings.Contains(msg, "U+") {
		t.Fatalf("error %q describes a character of the secret", msg)
	}
}

func TestLoadKEKRefusesFileReadableByOthers(t *testing.T) {
	t.Parallel()
	text := hex.EncodeToString(bytes.Repeat([]byte{7}, pki.KEKSize)) + "\n"
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o644, false},
		{0o640, false},
		{0o604, false},
		{0o660, false},
		{0o602, false},
		{0o666, false},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := pki.LoadKEK(path)
			if tc.ok != (err == nil) {
				t.Fatalf("LoadKEK of a mode %v file: err = %v, want ok=%v", tc.mode, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("error %q does not say how to fix it", err)
			}
		})
	}
	if _, err := pki.LoadKEK(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKEK of a missing file: err = %v, want ErrNotExist", err)
	}
}

func TestMakeKEKFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kek")
	k1, err := pki.MakeKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(path)
	if _, err := pki.ParseKEK(string(content)); err != nil || len(bytes.TrimSpace(content)) != 2*pki.KEKSize {
		t.Errorf("key file holds %d bytes that ParseKEK says %v to", len(content), err)
	}
	sealed := k1.Seal("tenant-ca:x:y", []byte("kept across restarts"))

	// A second start finds the file and keeps the key: what was sealed before still opens.
	k2, err := pki.MakeKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k2.Open("tenant-ca:x:y", sealed); err != nil || string(got) != "kept across restarts" {
		t.Fatalf("after a second MakeKEKFile: Open = %q, %v", got, err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Error("second MakeKEKFile rewrote the key file")
	}

	// Two data folders get two different keys.
	k3, err := pki.MakeKEKFile(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Open("tenant-ca:x:y", sealed); !errors.Is(err, pki.ErrUnseal) {
		t.Errorf("a fresh key file opens another's sealed key: %v", err)
	}

	// A key file others can read is refused, not silently replaced.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.MakeKEKFile(path); err == nil {
		t.Error("MakeKEKFile accepted a key file readable by others")
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, content) {
		t.Error("MakeKEKFile replaced a key file readable by others")
	}
}

// ---- The service's TLS identity ----

func TestServerTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var prev []byte
	var caPEM []byte
	kek := newKEK(t)
	for _, step := range []struct {
		name    string
		hosts   []string
		at      time.Time
		wantNew bool
	}{
		{"first start makes CA and certificate", []string{"localhost", "127.0.0.1"}, start, true},
		{"restart reuses the certificate", []string{"localhost", "127.0.0.1"}, start.Add(time.Hour), false},
		{"fewer hosts reuse it", []string{"127.0.0.1"}, start.Add(2 * time.Hour), false},
		{"a new host gets a new certificate", []string{"localhost", "127.0.0.1", "rampart.example"}, start.Add(3 * time.Hour), true},
		{"31 days left: kept", []string{"rampart.example"}, start.Add(334 * 24 * time.Hour), false},
		{"29 days left: renewed", []string{"rampart.example"}, start.Add(336 * 24 * time.Hour), true},
	} {
		cert, err := pki.ServerTLS(dir, kek, step.hosts, step.at)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		leaf := cert.Leaf
		if isNew := !bytes.Equal(leaf.Raw, prev); isNew != step.wantNew {
			t.Fatalf("%s: new certificate = %v, want %v", step.name, isNew, step.wantNew)
		}
		prev = leaf.Raw

		// The CA is made once and never replaced: clients that pinned it keep working.
		ca, err := os.ReadFile(filepath.Join(dir, pki.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		if caPEM == nil {
			caPEM = ca
		} else if !bytes.Equal(ca, caPEM) {
			t.Fatalf("%s: the service CA changed", step.name)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(ca) {
			t.Fatal("ca.pem holds no certificate")
		}
		caCert := parsePEMCert(t, ca)
		if !caCert.IsCA || caCert.NotAfter.Sub(start) < 9*365*24*time.Hour {
			t.Errorf("service CA: IsCA %v, not after %v", caCert.IsCA, caCert.NotAfter)
		}
		for _, h := range step.hosts {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: step.at,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("%s: certificate does not verify for %s under the service CA: %v", step.name, h, err)
			}
		}
		if leaf.IsCA || leaf.NotAfter.Sub(leaf.NotBefore) < 364*24*time.Hour {
			t.Errorf("%s: server certificate IsCA %v, valid %v to %v", step.name, leaf.IsCA, leaf.NotBefore, leaf.NotAfter)
		}
		for _, f := range []string{pki.CAKeyFile, pki.CertKeyFile} {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", step.name, f, fi.Mode().Perm())
			}
		}
		// The certificate on disk is the one returned, for a restart to find.
		if onDisk := parsePEMCert(t, mustRead(t, filepath.Join(dir, pki.CertFile))); !bytes.Equal(onDisk.Raw, leaf.Raw) {
			t.Errorf("%s: server.pem is not the certificate returned", step.name)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %.40q", b)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ---- Tenant device CAs ----

// env is one store and an Authority over it.
type env struct {
	st  *store.Store
	kek *pki.KEK
	ca  *pki.Authority
}

// each runs test in parallel on a fresh env for every store backend.
func each(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, backend))
		})
	}
}

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	st := storetest.Open(t, backend)
	kek := newKEK(t)
	return &env{st: st, kek: kek, ca: pki.NewAuthority(st, kek, nil)}
}

// clock returns an Authority over the same store whose clock is off by d: another replica, or
// this one at another time.
func (e *env) clock(d time.Duration) *pki.Authority {
	return pki.NewAuthority(e.st, e.kek, func() time.Time { return time.Now().Add(d) })
}

func (e *env) update(t *testing.T, fn func(*store.Tx) error) {
	t.Helper()
	if err := e.st.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func (e *env) tenant(t *testing.T, name string) api.Tenant {
	t.Helper()
	tn := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: name, CreatedAt: time.Now()}
	e.update(t, func(tx *store.Tx) error { return tx.CreateTenant(tn) })
	return tn
}

func (e *env) rotate(t *testing.T, a *pki.Authority, tenantID ident.TenantID) api.CA {
	t.Helper()
	var ca api.CA
	e.update(t, func(tx *store.Tx) (err error) {
		ca, err = a.Rotate(t.Context(), tx, tenantID)
		return err
	})
	a.Forget(tenantID) // after the commit, as the API does
	return ca
}

func (e *env) records(t *testing.T, tenantID ident.TenantID) []store.CARecord {
	t.Helper()
	var rs []store.CARecord
	if err := e.st.View(t.Context(), func(tx *store.Tx) (err error) {
		rs, err = tx.CAs(tenantID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *env) audit(t *testing.T, tenantID ident.TenantID) []api.AuditEntry {
	t.Helper()
	var es []api.AuditEntry
	if err := e.st.View(t.Context(), func(tx *store.Tx) (err error) {
		es, err = tx.Audit(tenantID, 0, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

// activeRecord returns the tenant's active CA as stored, making the first one if needed.
func (e *env) activeRecord(t *testing.T, tenantID ident.TenantID) store.CARecord {
	t.Helper()
	if _, err := e.ca.CAs(t.Context(), tenantID); err != nil {
		t.Fatal(err)
	}
	for _, r := range e.records(t, tenantID) {
		if r.Active {
			return r
		}
	}
	t.Fatal("tenant has no active CA")
	return store.CARecord{}
}

// stolenCA returns the tenant's active CA certificate and key, as an attacker holding the
// database and the KEK would: the way to make certificates only a real tenant CA could sign.
func (e *env) stolenCA(t *testing.T, tenantID ident.TenantID) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	r := e.activeRecord(t, tenantID)
	pkcs8, err := e.kek.Open(pki.SealPurpose(tenantID, r.ID), r.SealedKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key.(crypto.Signer)
}

// newDevice returns a device ID (of a DeviceID key thrown away) and an Alias key to certify.
func newDevice(t *testing.T) (ident.DeviceID, *ecdsa.PrivateKey) {
	t.Helper()
	return ident.DeviceIDFromPublicKey(spki(t, newKey(t).Public())), newKey(t)
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func spki(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deviceTemplate is what IssueDevice signs, for tests that sign lookalikes themselves.
func deviceTemplate(tenantID ident.TenantID, device ident.DeviceID) *x509.Certificate {
	u, _ := url.Parse(pki.DeviceURI(tenantID, device))
	return &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: string(device)},
		URIs:         []*url.URL{u},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// selfMadeCA is a CA that no tenant trusts but that looks like a tenant's.
func selfMadeCA(t *testing.T, tenantID ident.TenantID) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Rampart device CA acme", OrganizationalUnit: []string{string(tenantID)}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(t, tmpl, tmpl, key.Public(), key), key
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFirstUseMakesOneCA(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		before := time.Now().Truncate(time.Second)
		cas, err := e.ca.CAs(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cas) != 1 {
			t.Fatalf("CAs = %d, want 1", len(cas))
		}
		ca := cas[0]
		if !ca.Active || ca.TenantID != tn.ID || !ident.IsID(ca.ID) {
			t.Errorf("CA = %+v", ca)
		}
		if life := ca.NotAfter.Sub(ca.NotBefore); life < pki.CALifetime || life > pki.CALifetime+time.Hour {
			t.Errorf("CA valid %v to %v (%v), want about two years", ca.NotBefore, ca.NotAfter, life)
		}
		if ca.NotBefore.After(before) {
			t.Errorf("CA not valid before %v, after it was made (%v)", ca.NotBefore, before)
		}
		cert := parsePEMCert(t, bundle(t, e.ca, tn.ID))
		fp := sha256.Sum256(cert.Raw)
		if ca.Fingerprint != hex.EncodeToString(fp[:]) {
			t.Errorf("fingerprint %s is not the SHA-256 of the certificate", ca.Fingerprint)
		}
		if !cert.IsCA || !cert.NotAfter.Equal(ca.NotAfter) || !strings.Contains(cert.Subject.CommonName, "acme") {
			t.Errorf("CA certificate: IsCA %v, not after %v, subject %q", cert.IsCA, cert.NotAfter, cert.Subject)
		}

		// Asking again, here or on another replica, makes nothing new.
		for _, a := range []*pki.Authority{e.ca, e.clock(0)} {
			again, err := a.CAs(t.Context(), tn.ID)
			if err != nil || len(again) != 1 || again[0].ID != ca.ID {
				t.Fatalf("CAs again = %+v, %v", again, err)
			}
		}
		es := e.audit(t, tn.ID)
		if len(es) != 1 {
			t.Fatalf("audit has %d entries, want 1: %+v", len(es), es)
		}
		if es[0].Action != "ca.create" || es[0].Target != "ca/"+ca.ID || es[0].Detail != ca.Fingerprint {
			t.Errorf("audit entry = %+v", es[0])
		}
	})
}

// TestConcurrentFirstUseMakesOneCA: a tenant's first devices attesting at once, on several
// replicas, must leave the tenant with one CA and one ca.create entry, as Authority.set's
// re-check inside its write promises.
func TestConcurrentFirstUseMakesOneCA(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		// Several replicas, each with several requests, all seeing the tenant for the first time.
		replicas := []*pki.Authority{e.ca, e.clock(0), e.clock(0)}
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for i := range 12 {
			id, key := newDevice(t)
			wg.Go(func() {
				_, _, err := replicas[i%len(replicas)].IssueDevice(t.Context(), tn.ID, id, key.Public())
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if rs := e.records(t, tn.ID); len(rs) != 1 {
			t.Errorf("%d CAs made, want 1", len(rs))
		}
		if es := e.audit(t, tn.ID); len(es) != 1 {
			t.Errorf("%d audit entries, want 1", len(es))
		}
	})
}

func bundle(t *testing.T, a *pki.Authority, tenantID ident.TenantID) []byte {
	t.Helper()
	b, err := a.Bundle(t.Context(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func issue(t *testing.T, a *pki.Authority, tenantID ident.TenantID) (*x509.Certificate, ident.DeviceID, []byte) {
	t.Helper()
	id, key := newDevice(t)
	cert, chain, err := a.IssueDevice(t.Context(), tenantID, id, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return cert, id, chain
}

func verify(t *testing.T, a *pki.Authority, cert *x509.Certificate) error {
	t.Helper()
	_, _, err := a.VerifyDevice(t.Context(), []*x509.Certificate{cert})
	return err
}

func TestIssueDeviceCertificate(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		id, key := newDevice(t)
		cert, chain, err := e.ca.IssueDevice(t.Context(), tn.ID, id, key.Public())
		if err != nil {
			t.Fatal(err)
		}
		if cert.Subject.CommonName != string(id) {
			t.Errorf("CN = %q, want the device ID", cert.Subject.CommonName)
		}
		if len(cert.URIs) != 1 || cert.URIs[0].String() != pki.DeviceURI(tn.ID, id) {
			t.Errorf("URIs = %v, want [%s]", cert.URIs, pki.DeviceURI(tn.ID, id))
		}
		if cert.IsCA || len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
			t.Errorf("IsCA %v, extended key usage %v: want a client certificate only", cert.IsCA, cert.ExtKeyUsage)
		}
		if life := cert.NotAfter.Sub(cert.NotBefore); life < pki.DeviceCertLife || life > pki.DeviceCertLife+time.Hour {
			t.Errorf("valid %v to %v, want about a day", cert.NotBefore, cert.NotAfter)
		}
		if !bytes.Equal(spki(t, cert.PublicKey), spki(t, key.Public())) {
			t.Error("the certificate is not for the key given")
		}
		if ca := parsePEMCert(t, chain); cert.CheckSignatureFrom(ca) != nil || !bytes.Equal(chain, bundle(t, e.ca, tn.ID)) {
			t.Error("the chain returned is not the issuing CA")
		}

		// Accepted here and on another replica.
		for name, a := range map[string]*pki.Authority{"issuer": e.ca, "another replica": e.clock(0)} {
			gotTenant, gotID, err := a.VerifyDevice(t.Context(), []*x509.Certificate{cert})
			if err != nil || gotTenant != tn.ID || gotID != id {
				t.Errorf("%s: VerifyDevice = %q, %q, %v; want %q, %q", name, gotTenant, gotID, err, tn.ID, id)
			}
		}
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		old := e.activeRecord(t, tn.ID)
		rotated := e.rotate(t, e.ca, tn.ID)
		if !rotated.Active || rotated.ID == old.ID || rotated.Fingerprint == old.Fingerprint {
			t.Fatalf("Rotate = %+v, old %+v", rotated, old.CA)
		}
		cas, err := e.ca.CAs(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cas) != 2 || cas[0].ID != rotated.ID || !cas[0].Active || cas[1].ID != old.ID || cas[1].Active {
			t.Fatalf("CAs after rotation = %+v, want [new (active), old (inactive)]", cas)
		}
		b := bundle(t, e.ca, tn.ID)
		certs := parseBundle(t, b)
		if len(certs) != 2 || fingerprint(certs[0]) != rotated.Fingerprint || fingerprint(certs[1]) != old.Fingerprint {
			t.Fatalf("bundle after rotation holds %d certificates, want new then old", len(certs))
		}
		// Rotating a tenant that does not exist makes nothing.
		err = e.st.Update(t.Context(), func(tx *store.Tx) error {
			_, err := e.ca.Rotate(t.Context(), tx, ident.TenantID(ident.NewID()))
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Rotate of an unknown tenant: err = %v, want ErrNotFound", err)
		}
	})
}

func TestRotationKeepsOldDeviceCertsValid(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		replica := e.clock(0)
		before, id, _ := issue(t, e.ca, tn.ID)
		if err := verify(t, replica, before); err != nil { // the replica caches the old CA set
			t.Fatal(err)
		}
		rotated := e.rotate(t, e.ca, tn.ID)
		after, _, chain := issue(t, e.ca, tn.ID)
		newCA := parsePEMCert(t, chain)
		if fingerprint(newCA) != rotated.Fingerprint {
			t.Fatal("the chain of a certificate issued after rotation is not the new CA")
		}
		if err := after.CheckSignatureFrom(newCA); err != nil {
			t.Fatalf("certificate after rotation does not chain to the new CA: %v", err)
		}
		if err := before.CheckSignatureFrom(newCA); err == nil {
			t.Fatal("the new CA signed the old certificate: nothing rotated")
		}
		for name, a := range map[string]*pki.Authority{"rotating replica": e.ca, "other replica": replica, "new replica": e.clock(0)} {
			if gotTenant, gotID, err := a.VerifyDevice(t.Context(), []*x509.Certificate{before}); err != nil || gotTenant != tn.ID || gotID != id {
				t.Errorf("%s: certificate from before rotation: %q %q %v", name, gotTenant, gotID, err)
			}
			// The other replica still has the CA set from before the rotation cached: it must
			// look again rather than refuse a certificate from the new CA.
			if err := verify(t, a, after); err != nil {
				t.Errorf("%s: certificate from after rotation: %v", name, err)
			}
		}
	})
}

func parseBundle(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for rest := b; len(bytes.TrimSpace(rest)) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			t.Fatalf("bundle has non-PEM bytes: %.60q", rest)
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			t.Fatalf("bundle has a %q block (headers %v)", block.Type, block.Headers)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs
}

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func TestBundleIsPEMOfCAsOnly(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		issue(t, e.ca, tn.ID)
		e.rotate(t, e.ca, tn.ID)
		issue(t, e.ca, tn.ID)
		e.rotate(t, e.ca, tn.ID)
		b := bundle(t, e.ca, tn.ID)
		if bytes.Contains(b, []byte("PRIVATE")) {
			t.Fatal("the bundle holds a private key")
		}
		certs := parseBundle(t, b)
		cas, err := e.ca.CAs(t.Context(), tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) != len(cas) || len(certs) != 3 {
			t.Fatalf("bundle holds %d certificates for %d CAs, want 3", len(certs), len(cas))
		}
		for i, c := range certs {
			if !c.IsCA || c.CheckSignatureFrom(c) != nil {
				t.Errorf("bundle certificate %d (%s) is not a self-signed CA", i, c.Subject)
			}
			if fingerprint(c) != cas[i].Fingerprint {
				t.Errorf("bundle certificate %d is not CA %s", i, cas[i].ID)
			}
		}
		// Another tenant's bundle shares nothing with this one.
		other := e.tenant(t, "globex")
		for _, c := range parseBundle(t, bundle(t, e.ca, other.ID)) {
			for _, mine := range certs {
				if bytes.Equal(c.Raw, mine.Raw) || bytes.Equal(c.SubjectKeyId, mine.SubjectKeyId) {
					t.Error("two tenants share a CA")
				}
			}
		}
	})
}

func TestBundleDropsExpiredCA(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		// The first CA was made more than two years ago, then rotated.
		past := e.clock(-pki.CALifetime - 48*time.Hour)
		if _, err := past.CAs(t.Context(), tn.ID); err != nil {
			t.Fatal(err)
		}
		old, _, _ := issue(t, past, tn.ID)
		current := e.rotate(t, e.ca, tn.ID)
		certs := parseBundle(t, bundle(t, e.ca, tn.ID))
		if len(certs) != 1 || fingerprint(certs[0]) != current.Fingerprint {
			t.Fatalf("bundle holds %d certificates, want only the current CA", len(certs))
		}
		if cas, _ := e.ca.CAs(t.Context(), tn.ID); len(cas) != 2 {
			t.Errorf("CAs lists %d, want both (expired ones stay listed)", len(cas))
		}
		if err := verify(t, e.ca, old); !errors.Is(err, pki.ErrNotDeviceCert) {
			t.Errorf("certificate of an expired CA: err = %v, want ErrNotDeviceCert", err)
		}
	})
}

func TestForgedDeviceCertRefused(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		a, b := e.tenant(t, "acme"), e.tenant(t, "globex")
		aCA, aKey := e.stolenCA(t, a.ID)
		bCA, bKey := e.stolenCA(t, b.ID)
		fakeCA, fakeKey := selfMadeCA(t, a.ID)
		id, key := newDevice(t)
		other, _ := newDevice(t)
		pub := key.Public()
		u := func(s string) *url.URL { v, _ := url.Parse(s); return v }

		for _, tc := range []struct {
			name   string
			edit   func(*x509.Certificate) // of a template naming tenant A and the device
			parent *x509.Certificate
			key    crypto.Signer
			ok     bool
		}{
			// The control: what IssueDevice would make, signed the same way as the attacks.
			{"genuine, signed by A's CA", nil, aCA, aKey, true},
			{"signed by a self-made CA", nil, fakeCA, fakeKey, false},
			{"signed by tenant B's CA, naming tenant A", nil, bCA, bKey, false},
			{"self-signed", nil, nil, key, false},
			{"CN names another device", func(c *x509.Certificate) { c.Subject.CommonName = string(other) }, aCA, aKey, false},
			{"CN empty", func(c *x509.Certificate) { c.Subject.CommonName = "" }, aCA, aKey, false},
			{"no URI", func(c *x509.Certificate) { c.URIs = nil }, aCA, aKey, false},
			{"two URIs", func(c *x509.Certificate) {
				c.URIs = append(c.URIs, u(pki.DeviceURI(b.ID, id)))
			}, aCA, aKey, false},
			{"URI of another scheme", func(c *x509.Certificate) {
				c.URIs = []*url.URL{u("spiffe://rampart/tenant/" + string(a.ID) + "/device/" + string(id))}
			}, aCA, aKey, false},
			{"URI with a query", func(c *x509.Certificate) {
				c.URIs = []*url.URL{u(pki.DeviceURI(a.ID, id) + "?x=1")}
			}, aCA, aKey, false},
			{"upper-case device ID", func(c *x509.Certificate) {
				up := strings.ToUpper(string(id))
				c.Subject.CommonName, c.URIs = up, []*url.URL{u("urn:rampart:tenant:" + string(a.ID) + ":device:" + up)}
			}, aCA, aKey, false},
			{"server certificate", func(c *x509.Certificate) {
				c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			}, aCA, aKey, false},
			{"not yet valid", func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
			}, aCA, aKey, false},
		} {
			tmpl := deviceTemplate(a.ID, id)
			if tc.edit != nil {
				tc.edit(tmpl)
			}
			parent := tc.parent
			if parent == nil {
				parent = tmpl
			}
			cert := sign(t, tmpl, parent, pub, tc.key)
			gotTenant, gotID, err := e.ca.VerifyDevice(t.Context(), []*x509.Certificate{cert})
			if tc.ok {
				if err != nil || gotTenant != a.ID || gotID != id {
					t.Errorf("%s: VerifyDevice = %q, %q, %v; want it accepted", tc.name, gotTenant, gotID, err)
				}
				continue
			}
			if !errors.Is(err, pki.ErrNotDeviceCert) || gotTenant != "" || gotID != "" {
				t.Errorf("%s: VerifyDevice = %q, %q, %v; want ErrNotDeviceCert", tc.name, gotTenant, gotID, err)
			}
			// Presenting the genuine CA after the leaf does not help: trust comes from the store.
			if tc.parent != nil && tc.parent != aCA {
				if _, _, err := e.ca.VerifyDevice(t.Context(), []*x509.Certificate{cert, tc.parent, aCA}); !errors.Is(err, pki.ErrNotDeviceCert) {
					t.Errorf("%s, with its CA and A's in the chain: err = %v, want ErrNotDeviceCert", tc.name, err)
				}
			}
		}
		if _, _, err := e.ca.VerifyDevice(t.Context(), nil); !errors.Is(err, pki.ErrNotDeviceCert) {
			t.Errorf("no certificate: err = %v, want ErrNotDeviceCert", err)
		}
	})
}

func TestDeviceCertOfOneTenantRefusedAsAnother(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		a, b := e.tenant(t, "acme"), e.tenant(t, "globex")
		cert, id, _ := issue(t, e.ca, b.ID)
		gotTenant, gotID, err := e.ca.VerifyDevice(t.Context(), []*x509.Certificate{cert})
		if err != nil || gotTenant != b.ID || gotID != id {
			t.Fatalf("VerifyDevice = %q, %q, %v; want tenant B", gotTenant, gotID, err)
		}
		if gotTenant == a.ID {
			t.Fatal("B's device certificate verified as tenant A's")
		}
		// B's device, re-signed by A's genuine CA but still naming B: not a certificate of B.
		aCA, aKey := e.stolenCA(t, a.ID)
		resigned := sign(t, deviceTemplate(b.ID, id), aCA, cert.PublicKey, aKey)
		if err := verify(t, e.ca, resigned); !errors.Is(err, pki.ErrNotDeviceCert) {
			t.Errorf("B's device signed by A's CA: err = %v, want ErrNotDeviceCert", err)
		}
	})
}

func TestExpiredDeviceCertRefused(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name, tenant string
			clock        time.Duration
		}{
			{"issued two days ago", "expired", -48 * time.Hour},
			{"issued by a clock two days ahead", "future", 48 * time.Hour},
		} {
			tn := e.tenant(t, tc.tenant)
			off := e.clock(tc.clock)
			cert, _, _ := issue(t, off, tn.ID)
			// The control: at the time it was issued, the certificate is good.
			if err := verify(t, off, cert); err != nil {
				t.Fatalf("%s: refused at its own time: %v", tc.name, err)
			}
			if err := verify(t, e.ca, cert); !errors.Is(err, pki.ErrNotDeviceCert) {
				t.Errorf("%s: err = %v, want ErrNotDeviceCert", tc.name, err)
			}
		}
	})
}

func TestUnknownTenantRefusedWithoutSideEffects(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		known := e.tenant(t, "acme")
		ghost := ident.TenantID(ident.NewID())
		id, key := newDevice(t)
		// A certificate naming a tenant that does not exist, from a CA that does: as valid as a
		// forger could make it.
		aCA, aKey := e.stolenCA(t, known.ID)
		fakeCA, fakeKey := selfMadeCA(t, ghost)
		for name, cert := range map[string]*x509.Certificate{
			"signed by a self-made CA": sign(t, deviceTemplate(ghost, id), fakeCA, key.Public(), fakeKey),
			"signed by a real CA":      sign(t, deviceTemplate(ghost, id), aCA, key.Public(), aKey),
		} {
			if err := verify(t, e.ca, cert); !errors.Is(err, pki.ErrNotDeviceCert) {
				t.Errorf("%s: err = %v, want ErrNotDeviceCert", name, err)
			}
		}
		if _, _, err := e.ca.IssueDevice(t.Context(), ghost, id, key.Public()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("IssueDevice for an unknown tenant: err = %v, want ErrNotFound", err)
		}
		if _, err := e.ca.Bundle(t.Context(), ghost); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Bundle of an unknown tenant: err = %v, want ErrNotFound", err)
		}
		if rs := e.records(t, ghost); len(rs) != 0 {
			t.Errorf("%d CAs made for an unknown tenant", len(rs))
		}
		if es := e.audit(t, ghost); len(es) != 0 {
			t.Errorf("%d audit entries written for an unknown tenant", len(es))
		}
		err := e.st.View(t.Context(), func(tx *store.Tx) error {
			_, err := tx.Tenant(ghost)
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the unknown tenant exists now: %v", err)
		}
		if rs := e.records(t, known.ID); len(rs) != 1 {
			t.Errorf("the known tenant has %d CAs, want 1", len(rs))
		}
	})
}

func TestDeviceURI(t *testing.T) {
	t.Parallel()
	tenant := ident.TenantID(ident.NewID())
	id, _ := newDevice(t)
	u, err := url.Parse(pki.DeviceURI(tenant, id))
	if err != nil {
		t.Fatal(err)
	}
	gotTenant, gotID, err := pki.ParseDeviceURI(u)
	if err != nil || gotTenant != tenant || gotID != id {
		t.Fatalf("ParseDeviceURI(DeviceURI) = %q, %q, %v", gotTenant, gotID, err)
	}
	for _, bad := range []string{
		"",
		"urn:rampart:tenant:" + string(tenant),
		"urn:rampart:tenant:" + string(tenant) + ":device:",
		"urn:rampart:tenant:" + string(tenant) + ":device:" + string(id)[:63],
		"urn:rampart:tenant:" + string(tenant) + ":device:" + string(id) + "0",
		"urn:rampart:tenant:" + strings.ToUpper(string(tenant)) + ":device:" + string(id),
		"urn:rampart:tenant:acme:device:" + string(id),
		"urn:rampart:tenant::device:" + string(id),
		"https://rampart.example/urn:rampart:tenant:" + string(tenant) + ":device:" + string(id),
		"xurn:rampart:tenant:" + string(tenant) + ":device:" + string(id),
		"urn:rampart:tenant:" + string(tenant) + ":device:" + string(id) + "#frag",
		"urn:rampart:tenant:" + string(tenant) + ":device:" + string(id) + ":device:" + string(id),
	} {
		u, err := url.Parse(bad)
		if err != nil {
			continue
		}
		if gotTenant, gotID, err := pki.ParseDeviceURI(u); err == nil {
			t.Errorf("ParseDeviceURI(%q) = %q, %q; want an error", bad, gotTenant, gotID)
		}
	}
}

// TestCANearExpiryIsRenewed: when the active CA has less than RenewBefore left, the next use
// makes a new active CA (audited as a rotation), and device certificates chain to it.
func TestCANearExpiryIsRenewed(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		tn := e.tenant(t, "acme")
		_, _, firstChain := issue(t, e.ca, tn.ID)
		first := parsePEMCert(t, firstChain)
		late := e.clock(pki.CALifetime - pki.RenewBefore + 24*time.Hour) // 29 days before expiry
		cert, _, chain := issue(t, late, tn.ID)
		renewed := parsePEMCert(t, chain)
		if fingerprint(renewed) == fingerprint(first) {
			t.Fatal("a CA 29 days from expiry was not renewed")
		}
		if err := cert.CheckSignatureFrom(renewed); err != nil {
			t.Fatal(err)
		}
		var actions []string
		e.update(t, func(tx *store.Tx) error {
			entries, err := tx.Audit(tn.ID, 0, 100)
			for _, a := range entries {
				actions = append(actions, a.Action)
			}
			return err
		})
		if strings.Join(actions, ",") != "ca.create,ca.rotate" {
			t.Errorf("audit actions %v, want ca.create then ca.rotate", actions)
		}
	})
}

// TestForgedClientCertificateWritesNothing: a self-signed certificate naming an existing tenant
// that has no CA yet is refused without making that tenant's CA or an audit entry.
func TestForgedClientCertificateWritesNothing(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		victim := e.tenant(t, "victim")
		id, key := newDevice(t)
		fakeCA, fakeKey := selfMadeCA(t, victim.ID)
		for name, cert := range map[string]*x509.Certificate{
			"signed by a self-made CA": sign(t, deviceTemplate(victim.ID, id), fakeCA, key.Public(), fakeKey),
			"self-signed":              sign(t, deviceTemplate(victim.ID, id), deviceTemplate(victim.ID, id), key.Public(), key),
		} {
			if err := verify(t, e.ca, cert); !errors.Is(err, pki.ErrNotDeviceCert) {
				t.Errorf("%s: err = %v, want ErrNotDeviceCert", name, err)
			}
		}
		if rs := e.records(t, victim.ID); len(rs) != 0 {
			t.Errorf("verifying forged certificates made %d CAs for the tenant they name", len(rs))
		}
		if es := e.audit(t, victim.ID); len(es) != 0 {
			t.Errorf("verifying forged certificates wrote %d audit entries: %+v", len(es), es)
		}
	})
}

// TestForgedCertificatesCostNoStoreReads: certificates that do not verify, naming tenants that
// do not exist or an existing tenant with a CA of their own, cost the store a bounded number of
// reads however many arrive; a genuine certificate still verifies.
func TestForgedCertificatesCostNoStoreReads(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, e *env) {
		victim := e.tenant(t, "victim")
		id, key := newDevice(t)
		genuine, _, err := e.ca.IssueDevice(t.Context(), victim.ID, id, key.Public())
		if err != nil {
			t.Fatal(err)
		}
		fakeCA, fakeKey := selfMadeCA(t, victim.ID)
		before := pki.StoreReads(e.ca)
		const n = 300
		for i := range n {
			tenant := victim.ID
			if i%2 == 0 {
				tenant = ident.TenantID(ident.NewID()) // a tenant that does not exist
			}
			cert := sign(t, deviceTemplate(tenant, id), fakeCA, key.Public(), fakeKey)
			if err := verify(t, e.ca, cert); !errors.Is(err, pki.ErrNotDeviceCert) {
				t.Fatalf("forged certificate %d: err = %v, want ErrNotDeviceCert", i, err)
			}
		}
		// The budget is a burst of 20 and 5 a second more; the loop takes well under 10 s.
		if reads := pki.StoreReads(e.ca) - before; reads > 70 {
			t.Errorf("%d forged certificates cost %d store reads, want them bounded", n, reads)
		}
		if err := verify(t, e.ca, genuine); err != nil {
			t.Errorf("the genuine certificate after the flood: %v", err)
		}
	})
}

// TestServiceCAKeySealed: the service's TLS CA key is sealed with the KEK, and a plain key left
// by an older version is sealed at the next start without changing the CA.
func TestServiceCAKeySealed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kek := newKEK(t)
	if _, err := pki.ServerTLS(dir, kek, []string{"localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	sealed := mustRead(t, filepath.Join(dir, pki.CAKeyFile))
	if b, _ := pem.Decode(sealed); b == nil || b.Type == "PRIVATE KEY" || b.Type == "EC PRIVATE KEY" {
		t.Fatalf("the service CA key is stored in plain text:\n%s", sealed)
	}
	if _, err := pki.ServerTLS(dir, newKEK(t), []string{"localhost"}, time.Now()); err == nil {
		t.Error("the sealed service CA key opened with another KEK")
	}

	// An older data folder: the same CA with its key in plain PKCS #8.
	old := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour * 365)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(old, pki.CAFile), caPEM, 0o644)
	os.WriteFile(filepath.Join(old, pki.CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600)
	cert, err := pki.ServerTLS(old, kek, []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatalf("a data folder with a plain CA key does not start: %v", err)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(old, pki.CAFile)), caPEM) {
		t.Error("sealing the old key replaced the CA")
	}
	if err := cert.Leaf.CheckSignatureFrom(parsePEMCert(t, caPEM)); err != nil {
		t.Errorf("the server certificate is not signed by the old CA: %v", err)
	}
	after := mustRead(t, filepath.Join(old, pki.CAKeyFile))
	if bytes.Contains(after, pkcs8) || bytes.Contains(after, []byte("BEGIN PRIVATE KEY")) {
		t.Errorf("the plain CA key was not sealed on upgrade:\n%s", after)
	}
	if _, err := pki.ServerTLS(old, kek, []string{"localhost"}, time.Now()); err != nil {
		t.Errorf("restart after sealing: %v", err)
	}
}
