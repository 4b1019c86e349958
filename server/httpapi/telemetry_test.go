package httpapi_test

import (
	"bytes"
	"context"
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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/internal/mqtttest"
)

// TestTelemetrySamplePublishesWithServiceCertificate runs the telemetry sample end to end with
// what the service issues: the device attests to the service and gets its 24-hour certificate;
// a stock Mosquitto broker trusts the tenant's CA bundle (GET /api/v1/ca/bundle) and nothing
// else; the sample's MQTT session rides on the host's TLS with that certificate, and a subscriber
// with another of the tenant's device certificates receives its readings.
func TestTelemetrySamplePublishesWithServiceCertificate(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the sample and starts a Mosquitto broker; not in -short mode")
	}
	sub := mqtttest.Binary(t, "mosquitto_sub")
	module := buildTelemetrySample(t)

	// The service: the device attests and gets its certificate; the tenant's bundle is fetched
	// as an Administrator would.
	w, srv := tlsWorldOn(t, "sqlite")
	d := claimedRotDevice(t, w, rot.ModeNormal)
	status, ar := attestOver(t, ownClient(srv, nil), srv.URL, d)
	if status != http.StatusOK {
		t.Fatalf("attest: %d %+v", status, ar)
	}
	deviceCert := &tls.Certificate{PrivateKey: d.alias}
	for _, p := range []string{ar.Certificate, ar.CAChain} {
		for rest := []byte(p); ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			deviceCert.Certificate = append(deviceCert.Certificate, b.Bytes)
		}
	}
	status, bundle := w.do(adminA, "GET", "/api/v1/ca/bundle", nil)
	if status != http.StatusOK || !strings.Contains(bundle, "BEGIN CERTIFICATE") {
		t.Fatalf("CA bundle: %d %s", status, bundle)
	}

	// The broker: its own server certificate, client certificates checked against the bundle.
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	brokerCA, brokerCAKey := testCA(t)
	writeFile(t, file("bundle.pem"), []byte(bundle))
	writeFile(t, file("broker-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: brokerCA.Raw}))
	writeCertKey(t, issueServer(t, brokerCA, brokerCAKey), file("broker.pem"), file("broker.key"))
	writeCertKey(t, issueIn(t, w, w.a.tenant.ID, deviceID(7)), file("sub.pem"), file("sub.key"))
	broker := mqtttest.Start(t, mqtttest.Config{CAFile: file("bundle.pem"), CertFile: file("broker.pem"), KeyFile: file("broker.key")})
	port, addr := broker.Port, broker.Addr
	var got mqtttest.Buffer
	subscriber := exec.Command(sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port),
		"--cafile", file("broker-ca.pem"), "--cert", file("sub.pem"), "--key", file("sub.key"),
		"-t", "rampart/test/#", "-v", "-C", "2", "-W", "60")
	subscriber.Stdout, subscriber.Stderr = &got, &got
	if err := subscriber.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { subscriber.Process.Kill() })
	eventually(t, "the subscriber to subscribe", func() bool { return strings.Contains(broker.Log(), "SUBSCRIBE") })

	// The device: the sample installed as the update client installs it, with its config.
	hostDir := t.TempDir()
	storageKey := bytes.Repeat([]byte{7}, 32)
	host, err := apphost.New(hostDir, apphost.Options{
		StorageKey:        storageKey,
		ExtraRootCAs:      []*x509.Certificate{brokerCA},
		DeviceCertificate: func() (*tls.Certificate, error) { return deviceCert, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	b, err := os.ReadFile("../../examples/telemetry/app_manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Capabilities.AllowedConnections = []string{addr}
	manifestJSON, _ := json.Marshal(m)
	imageDir := filepath.Join(hostDir, state.DirApps, m.ComponentId, "0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f")
	writeFile(t, filepath.Join(imageDir, state.FileAppManifest), manifestJSON)
	writeFile(t, filepath.Join(imageDir, state.FileApp), module)
	if err := state.WriteFile(filepath.Join(hostDir, state.DirApps, m.ComponentId, state.FileCurrent),
		[]byte(filepath.Base(imageDir)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"broker": "127.0.0.1", "port": port, "topic": "rampart/test/telemetry", "interval_seconds": 1})
	if err := apphost.WriteStorageFile(hostDir, storageKey, m.ComponentId, "config.json", cfg); err != nil {
		t.Fatal(err)
	}
	if err := host.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}

	if err := subscriber.Wait(); err != nil {
		appLog, _ := os.ReadFile(filepath.Join(hostDir, apphost.DirAppLogs, m.ComponentId+".log"))
		t.Fatalf("mosquitto_sub: %v\n%s\napp log:\n%s", err, got.String(), appLog)
	}
	lines := strings.Split(strings.TrimSpace(got.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "rampart/test/telemetry {") {
		t.Fatalf("subscriber got %q", got.String())
	}
	var r struct {
		Seq          int      `json:"seq"`
		TemperatureC *float64 `json:"temperature_c"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "rampart/test/telemetry ")), &r); err != nil || r.TemperatureC == nil {
		t.Errorf("reading %q: %v", lines[1], err)
	}
	// The broker let the app in as the device, by the certificate the service issued it.
	if !strings.Contains(broker.Log(), "u'"+string(d.id)+"'") {
		t.Errorf("the broker did not see device %s's certificate", d.id)
	}
}

// buildTelemetrySample builds examples/telemetry for WebAssembly.
func buildTelemetrySample(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "app.wasm")
	cmd := exec.Command("go", "build", "-o", out, "../../examples/telemetry")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=wasip1 GOARCH=wasm go build examples/telemetry: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testCA is a throwaway CA for the broker's own certificate.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// issueServer returns a server certificate for 127.0.0.1.
func issueServer(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writeCertKey(t *testing.T, c *tls.Certificate, certPath, keyPath string) {
	t.Helper()
	var certs bytes.Buffer
	for _, der := range c.Certificate {
		pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certPath, certs.Bytes())
	writeFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
