// Package csdk_test runs the C SDK's own test programs (testdata/*.c), compiled with clang for
// wasm32-wasi, in the real app host: timers, the event loop, mutable storage, GPIO, connections
// and the errno of refused calls.
package csdk_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
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

// program is a test program running in an app host.
type program struct {
	t    *testing.T
	h    *apphost.Host
	name string
	log  string // its log file
}

// start runs the test program name in a host with opt, its manifest granting caps; files are
// put in its storage first. The host is closed when the test ends.
func start(t *testing.T, name string, opt apphost.Options, caps manifest.Capabilities, files map[string]string) *program {
	t.Helper()
	module := compile(t, name)
	dir := t.TempDir()
	if opt.StorageKey == nil {
		opt.StorageKey = bytes.Repeat([]byte{7}, 32)
	}
	h, err := apphost.New(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	m := &manifest.App{SchemaVersion: 1, ComponentId: ident.NewID(), Name: "sdktest", EntryPoint: "app.wasm", Capabilities: caps}
	install(t, dir, m, module)
	for f, s := range files {
		if err := apphost.WriteStorageFile(dir, opt.StorageKey, m.ComponentId, f, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &program{t: t, h: h, name: name, log: filepath.Join(dir, apphost.DirAppLogs, m.ComponentId+".log")}
}

// waitFor waits for s in the program's log and returns the log.
func (p *program) waitFor(s string) string {
	p.t.Helper()
	var all string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(p.log)
		if all = string(b); strings.Contains(all, s) {
			return all
		}
	}
	p.t.Fatalf("%q is not in the log of %s:\n%s", s, p.name, all)
	return ""
}

// done waits for the program's first run to end and checks that want of its checks passed
// (every check(...) in its source if want < 0) and none failed. It returns the run's log.
func (p *program) done(want int) string {
	p.t.Helper()
	log, _, _ := strings.Cut(p.waitFor("DONE"), "DONE") // the first run only: the host restarts it
	if fails := regexp.MustCompile(`FAIL .*`).FindAllString(log, -1); len(fails) > 0 {
		p.t.Errorf("%d checks failed:\n%s", len(fails), strings.Join(fails, "\n"))
	}
	if want < 0 {
		src, err := os.ReadFile(filepath.Join("testdata", p.name))
		if err != nil {
			p.t.Fatal(err)
		}
		want = strings.Count(string(src), "check(\"")
	}
	if n := strings.Count(log, "PASS "); n != want {
		p.t.Errorf("%d of %d checks passed:\n%s", n, want, log)
	}
	return log
}

// run runs the test program name (see start) and checks that every check(...) in its source
// printed PASS.
func run(t *testing.T, name string, opt apphost.Options, caps manifest.Capabilities, files map[string]string) string {
	t.Helper()
	return start(t, name, opt, caps, files).done(-1)
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

// TestCDeviceCertificateInterfacesAndUpdate: a C app with DeviceAuthentication reads the
// device's certificate chain at DeviceAuth_GetCertificatePath, whose subject is the device ID
// and which holds no key; it sees the device's network interfaces and their status; and it
// follows an update from Pending to Complete, deferring it and resuming it on the way, which
// lets the update go ahead at once.
func TestCDeviceCertificateInterfacesAndUpdate(t *testing.T) {
	ca, caKey := newCert(t, "test CA", nil, nil)
	deviceID := fmt.Sprintf("%x", sha256.Sum256(ca.RawSubjectPublicKeyInfo)) // a device ID's shape
	deviceCert, deviceKey := newCert(t, deviceID, ca, caKey)
	device := &tls.Certificate{Certificate: [][]byte{deviceCert.Raw, ca.Raw}, PrivateKey: deviceKey}
	p := start(t, "devicetest.c", apphost.Options{
		DeviceCertificate: func() (*tls.Certificate, error) { return device, nil },
		NetworkReady:      func() bool { return true },
		NetworkInterfaces: func() ([]apphost.NetInterface, error) {
			return []apphost.NetInterface{
				{Name: "eth0", Up: true, Connected: true, HasIP: true, HardwareAddr: net.HardwareAddr{2, 0, 0x5e, 0x10, 0, 1}},
				{Name: "a-name-far-too-long-for-azure-sphere", Up: true},
				{Name: "wlan0", Up: true, HasIP: true, Wireless: true}, // an address but no link: not counted
			}, nil
		},
	}, manifest.Capabilities{
		DeviceAuthentication:     true,
		SystemEventNotifications: true,
		SoftwareUpdateDeferral:   true,
		MutableStorage:           &manifest.MutableStorage{SizeKB: 1},
	}, map[string]string{"azsphere-mutable-file": "cert " + deviceID})

	p.waitFor("WAITING")
	p.h.NotifyUpdatePending(apphost.UpdateApplication, time.Now().Add(time.Hour))
	p.waitFor("RESUMED")
	select {
	case <-p.h.Resumed():
	case <-time.After(10 * time.Second):
		t.Error("the app resumed the update, and the host did not say so")
	}
	if until := p.h.Deferred(apphost.UpdateApplication); until.After(time.Now()) {
		t.Errorf("after the resume the update is deferred until %v", until)
	}
	// The update client goes ahead, installs the update and says it is done.
	p.h.NotifyUpdateFinal(apphost.UpdateApplication)
	p.h.NotifyUpdatePending(apphost.UpdateApplication, time.Time{})
	src, _ := os.ReadFile("testdata/devicetest.c")
	p.done(strings.Count(string(src), "check(\"") - 4) // all but the four of a device without certificate or interfaces
}

// TestCDeviceCertificateBeforeAttestation: before the device has a certificate the path is
// given, as on Azure Sphere, and opening it is ENOENT; interfaces the runtime cannot list are
// EAGAIN.
func TestCDeviceCertificateBeforeAttestation(t *testing.T) {
	p := start(t, "devicetest.c", apphost.Options{
		DeviceCertificate: func() (*tls.Certificate, error) { return nil, errors.New("no certificate yet") },
		NetworkInterfaces: func() ([]apphost.NetInterface, error) { return nil, errors.New("no interfaces") },
	}, manifest.Capabilities{DeviceAuthentication: true, MutableStorage: &manifest.MutableStorage{SizeKB: 1}},
		map[string]string{"azsphere-mutable-file": "nocert"})
	p.done(5)
}

// TestUnavailableCallsStopTheBuild: an Azure Sphere call Rampart does not have is a compile
// error that says why and what to use instead, never a stub that fails at run time.
func TestUnavailableCallsStopTheBuild(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		compile(t, "sdktest.c") // skips, or fails under CI
	}
	for _, tc := range []struct{ src, want string }{
		{"#include <tlsutils/deviceauth_curl.h>\nint main(void) { return (int)DeviceAuth_SslCtxFunc(0); }",
			"Rampart_ConnectTLS(host, port, true)"},
		{"#include <tlsutils/deviceauth_curl.h>\nint main(void) { return DeviceAuth_CurlSslFunc(0, 0, 0); }",
			"never holds the device's key"},
		{"#include <applibs/networking.h>\nint main(void) { return Networking_Proxy_Apply(0); }",
			"belongs to the device runtime"},
	} {
		src := filepath.Join(t.TempDir(), "app.c")
		if err := os.WriteFile(src, []byte(tc.src), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(clang, "--target=wasm32-wasi", "-isystem", "include", "-c", "-o", os.DevNull, src).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: compiled (%v), or without %q:\n%s", tc.src, err, tc.want, out)
		}
	}
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
