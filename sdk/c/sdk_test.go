// Package csdk_test runs the C SDK's own test programs (testdata/*.c), compiled with clang for
// wasm32-wasi, in the real app host: timers, the event loop, mutable storage, GPIO, connections
// and the errno of refused calls.
package csdk_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// compile builds testdata/name with the SDK, or skips the test when clang is missing and CI
// is not set.
func compile(t *testing.T, name string) []byte {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and clang is missing: run scripts/test-services")
		}
		t.Skip("the C SDK's tests need clang, lld, wasi-libc and libclang-rt-14-dev-wasm32: run scripts/test-services")
	}
	srcs, _ := filepath.Glob("src/*.c")
	out := filepath.Join(t.TempDir(), "test.wasm")
	args := append([]string{"--target=wasm32-wasi", "-O1", "-g", "-Wall", "-Werror", "-isystem", "include",
		"-D_WASI_EMULATED_SIGNAL", "-o", out, filepath.Join("testdata", name)}, srcs...)
	args = append(args, "-lwasi-emulated-signal")
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run runs the test program name in a host with opt, its manifest granting caps, and checks
// that every check(...) in its source printed PASS. files are put in its storage first.
func run(t *testing.T, name string, opt apphost.Options, caps manifest.Capabilities, files map[string]string) string {
	t.Helper()
	module := compile(t, name)
	dir := t.TempDir()
	h, err := apphost.New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	m := &manifest.App{SchemaVersion: 1, ComponentId: ident.NewID(), Name: "sdktest", EntryPoint: "app.wasm", Capabilities: caps}
	install(t, dir, m, module)
	data := filepath.Join(dir, apphost.DirAppData, m.ComponentId)
	os.MkdirAll(data, 0o700)
	for f, s := range files {
		if err := os.WriteFile(filepath.Join(data, f), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, apphost.DirAppLogs, m.ComponentId+".log")
	var all string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if all = string(b); strings.Contains(all, "DONE") {
			break
		}
	}
	log, _, done := strings.Cut(all, "DONE") // the first run only: the host restarts it
	if !done {
		t.Fatalf("the test program did not finish:\n%s", all)
	}
	if fails := regexp.MustCompile(`FAIL .*`).FindAllString(log, -1); len(fails) > 0 {
		t.Errorf("%d checks failed:\n%s", len(fails), strings.Join(fails, "\n"))
	}
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if n, want := strings.Count(log, "PASS "), strings.Count(string(src), "check(\""); n != want {
		t.Errorf("%d of %d checks passed:\n%s", n, want, log)
	}
	return log
}

func TestCSDKInTheAppHost(t *testing.T) {
	log := run(t, "sdktest.c", apphost.Options{},
		manifest.Capabilities{Gpio: []int{5}, MutableStorage: &manifest.MutableStorage{SizeKB: 1}}, nil)
	if !strings.Contains(log, "DEBUG: a log line 42") {
		t.Errorf("Log_Debug's line is not in the log:\n%s", log)
	}
}

// TestCConnectionWithDeviceCertificate: a C app's TLS connection, made by the host with the
// device certificate, reaches a server that requires it; a host the manifest does not list is
// EACCES.
func TestCConnectionWithDeviceCertificate(t *testing.T) {
	ca, caKey := newCert(t, "test CA", nil, nil)
	serverCert, serverKey := newCert(t, "127.0.0.1", ca, caKey)
	deviceCert, deviceKey := newCert(t, "device-1", ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serve(ln)
	port := ln.Addr().(*net.TCPAddr).Port
	device := &tls.Certificate{Certificate: [][]byte{deviceCert.Raw}, PrivateKey: deviceKey}
	run(t, "nettest.c", apphost.Options{
		ExtraRootCAs:      []*x509.Certificate{ca},
		DeviceCertificate: func() (*tls.Certificate, error) { return device, nil },
	}, manifest.Capabilities{
		AllowedConnections:   []string{"127.0.0.1:" + strconv.Itoa(port)},
		DeviceAuthentication: true,
		MutableStorage:       &manifest.MutableStorage{SizeKB: 1},
	}, map[string]string{"azsphere-mutable-file": strconv.Itoa(port)})
}

// serve answers each connection's first line with "hello CN", CN the client certificate's.
func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			tc := c.(*tls.Conn)
			buf := make([]byte, 64)
			if _, err := tc.Read(buf); err != nil {
				return
			}
			cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			tc.Write([]byte("hello " + cn + "\n"))
			time.Sleep(5 * time.Second) // hold the connection open: the app tests a read timeout
		}()
	}
}

// newCert makes a certificate for cn signed by parent (self-signed, a CA, if parent is nil).
func newCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// install puts module in the state folder as the update client does.
func install(t *testing.T, dir string, m *manifest.App, module []byte) {
	t.Helper()
	id := ident.NewID()
	img := filepath.Join(dir, state.DirApps, m.ComponentId, id)
	if err := os.MkdirAll(img, 0o700); err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(m)
	for name, b := range map[string][]byte{state.FileAppManifest: mb, state.FileApp: module} {
		if err := os.WriteFile(filepath.Join(img, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := state.WriteFile(filepath.Join(dir, state.DirApps, m.ComponentId, state.FileCurrent), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
