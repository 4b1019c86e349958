package apphost_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// wasm holds the test apps, built once by TestMain: probe (testdata/probe), badimport, and
// the examples blink and telemetry.
var wasm = map[string][]byte{}

// sharedCache is the compilation cache of every test's host, so that each module is compiled
// once per test run rather than once per test.
var sharedCache string

func TestMain(m *testing.M) {
	os.Exit(buildApps(m))
}

func buildApps(m *testing.M) int {
	dir, err := os.MkdirTemp("", "apphost-wasm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sharedCache = filepath.Join(dir, "cache")
	if err := os.Mkdir(sharedCache, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pkgs := map[string]string{
		"probe":     "./testdata/probe",
		"badimport": "./testdata/badimport",
		"blink":     "../../examples/blink",
		"telemetry": "../../examples/telemetry",
	}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, p := range pkgs {
		args = append(args, p)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "GOOS=wasip1 GOARCH=wasm go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	for name, p := range pkgs {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(p)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		wasm[name] = b
	}
	return m.Run()
}

// env is a host on a fresh state folder, with what it reported.
type env struct {
	t   *testing.T
	dir string
	h   *apphost.Host
	rec *recorder
	key []byte // the storage key
}

// newEnv starts a host; opt.Events is set to a recorder.
func newEnv(t *testing.T, opt apphost.Options) *env {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "cache"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sharedCache, filepath.Join(dir, apphost.DirCache)); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opt.Events = rec.add
	if opt.StorageKey == nil {
		opt.StorageKey = bytes.Repeat([]byte{7}, 32)
	}
	h, err := apphost.New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return &env{t: t, dir: dir, h: h, rec: rec, key: opt.StorageKey}
}

// app returns a manifest for a test app.
func app(name string, caps manifest.Capabilities) *manifest.App {
	return &manifest.App{SchemaVersion: 1, ComponentId: ident.NewID(), Name: name, EntryPoint: "app.wasm", Capabilities: caps}
}

// install installs module as a new image of m's component, the way the update client does,
// and returns the image ID.
func (e *env) install(m *manifest.App, module []byte) string {
	e.t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.installRaw(m.ComponentId, b, module)
}

func (e *env) installRaw(cid string, manifestJSON, module []byte) string {
	e.t.Helper()
	id := ident.NewID()
	dir := filepath.Join(e.dir, state.DirApps, cid, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	for name, b := range map[string][]byte{state.FileAppManifest: manifestJSON, state.FileApp: module} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := state.WriteFile(filepath.Join(e.dir, state.DirApps, cid, state.FileCurrent), []byte(id+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// sync runs Sync and fails the test on an error.
func (e *env) sync() {
	e.t.Helper()
	if err := e.h.Sync(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// script puts a probe's script in its storage.
func (e *env) script(m *manifest.App, lines ...string) {
	e.t.Helper()
	if err := apphost.WriteStorageFile(e.dir, e.key, m.ComponentId, "script", []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		e.t.Fatal(err)
	}
}

// log returns app cid's log.
func (e *env) log(cid string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, apphost.DirAppLogs, cid+".log"))
	return string(b)
}

// results waits for a probe to finish its script and returns its answers by command.
func (e *env) results(m *manifest.App) map[string]string {
	e.t.Helper()
	waitFor(e.t, "the probe's DONE", func() bool { return strings.Contains(e.log(m.ComponentId), "INFO: DONE") })
	out := map[string]string{}
	for _, ln := range strings.Split(e.log(m.ComponentId), "\n") {
		_, r, ok := strings.Cut(ln, "INFO: RESULT ")
		if !ok {
			continue
		}
		cmd, ans, _ := strings.Cut(r, " => ")
		out[cmd] = ans
	}
	return out
}

// expect checks a probe's answers.
func (e *env) expect(m *manifest.App, want map[string]string) {
	e.t.Helper()
	got := e.results(m)
	for cmd, w := range want {
		if got[cmd] != w {
			e.t.Errorf("%s: %q => %q, want %q", m.Name, cmd, got[cmd], w)
		}
	}
	if e.t.Failed() {
		e.t.Logf("log of %s:\n%s", m.Name, e.log(m.ComponentId))
	}
}

// status returns what List says of cid.
func (e *env) status(cid string) apphost.AppStatus {
	for _, s := range e.h.List() {
		if s.ComponentID == cid {
			return s
		}
	}
	e.t.Fatalf("app %s is not listed", cid)
	return apphost.AppStatus{}
}

// ticks counts the lines a ticker has logged.
func (e *env) ticks(cid string) int { return strings.Count(e.log(cid), "INFO: tick ") }

// stillTicking checks that the ticker cid makes progress.
func (e *env) stillTicking(cid string) {
	e.t.Helper()
	n := e.ticks(cid)
	waitFor(e.t, "the neighbour to keep ticking", func() bool { return e.ticks(cid) >= n+5 })
	if s := e.status(cid); s.State != apphost.StateRunning || s.Restarts != 0 {
		e.t.Errorf("neighbour: state %s, %d restarts; want running, 0", s.State, s.Restarts)
	}
}

// waitFor polls cond until it holds, failing the test after a minute: long enough for a slow
// machine, and the tests do not measure time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder keeps the host's events.
type recorder struct {
	mu     sync.Mutex
	events []apphost.Event
}

func (r *recorder) add(e apphost.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// of returns the events of kind about cid.
func (r *recorder) of(cid string, kind apphost.EventKind) []apphost.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []apphost.Event
	for _, e := range r.events {
		if e.ComponentID == cid && e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// wait waits for an event of kind about cid and returns the first.
func (r *recorder) wait(t *testing.T, cid string, kind apphost.EventKind) apphost.Event {
	t.Helper()
	waitFor(t, fmt.Sprintf("a %s event", kind), func() bool { return len(r.of(cid, kind)) > 0 })
	return r.of(cid, kind)[0]
}

// ---- servers ----

// listen starts a TCP server on 127.0.0.1 that answers each line with "pong" and its own
// extra text, counting the connections it accepts.
type server struct {
	port     int
	mu       sync.Mutex
	accepted int
	peers    []string // client certificate CNs, for TLS
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func startServer(t *testing.T, cfg *tls.Config) *server {
	t.Helper()
	var l net.Listener
	var err error
	if cfg != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &server{port: l.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

func (s *server) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	who := ""
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			who = " " + certs[0].Subject.CommonName
			s.mu.Lock()
			s.peers = append(s.peers, certs[0].Subject.CommonName)
			s.mu.Unlock()
		}
	}
	buf := make([]byte, 64)
	var line []byte
	for !bytes.Contains(line, []byte("\n")) {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		line = append(line, buf[:n]...)
	}
	fmt.Fprintf(c, "pong%s\n", who)
}

// ---- certificates ----

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key}
}

// issue returns a certificate for cn: a server certificate for 127.0.0.1, or a client one.
func (c *ca) issue(t *testing.T, cn string, server bool) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// writePEM writes cert (and its key, if keyPath is not empty) as PEM files.
func writePEM(t *testing.T, cert *tls.Certificate, certPath, keyPath string) {
	t.Helper()
	var b bytes.Buffer
	pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	if err := os.WriteFile(certPath, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if keyPath == "" {
		return
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
