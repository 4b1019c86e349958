package apphost_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/internal/mqtttest"
)

// TestTelemetryPublishesToMosquitto runs the telemetry sample against a real broker that
// requires a client certificate: the app's MQTT session rides on the host's TLS with the
// device certificate, and a subscriber (mosquitto_sub) receives its readings.
func TestTelemetryPublishesToMosquitto(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mosquitto broker; not in -short mode")
	}
	sub := mqtttest.Binary(t, "mosquitto_sub")
	root := newCA(t, "tenant CA")
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	writePEM(t, &tls.Certificate{Certificate: [][]byte{root.cert.Raw}}, file("ca.pem"), "")
	writePEM(t, root.issue(t, "broker", true), file("broker.pem"), file("broker.key"))
	writePEM(t, root.issue(t, "subscriber", false), file("sub.pem"), file("sub.key"))
	device := root.issue(t, "device-1", false)

	broker := mqtttest.Start(t, mqtttest.Config{CAFile: file("ca.pem"), CertFile: file("broker.pem"), KeyFile: file("broker.key")})
	port, addr := broker.Port, broker.Addr

	var got bytes.Buffer
	subscriber := exec.Command(sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port),
		"--cafile", file("ca.pem"), "--cert", file("sub.pem"), "--key", file("sub.key"),
		"-t", "rampart/test/#", "-v", "-C", "2", "-W", "60")
	subscriber.Stdout, subscriber.Stderr = &got, &got
	if err := subscriber.Start(); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, apphost.Options{
		ExtraRootCAs:      []*x509.Certificate{root.cert},
		DeviceCertificate: func() (*tls.Certificate, error) { return device, nil },
	})
	m := exampleManifest(t, "telemetry")
	m.Capabilities.AllowedConnections = []string{addr}
	e.install(m, wasm["telemetry"])
	cfg, _ := json.Marshal(map[string]any{"broker": "127.0.0.1", "port": port, "topic": "rampart/test/telemetry", "interval_seconds": 1})
	if err := apphost.WriteStorageFile(e.dir, e.key, m.ComponentId, "config.json", cfg); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if err := subscriber.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v\n%s\napp log:\n%s", err, got.String(), e.log(m.ComponentId))
	}
	lines := strings.Split(strings.TrimSpace(got.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "rampart/test/telemetry {") {
		t.Fatalf("subscriber got %q", got.String())
	}
	var r struct {
		Seq          int     `json:"seq"`
		TemperatureC float64 `json:"temperature_c"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "rampart/test/telemetry ")), &r); err != nil || r.Seq < 2 {
		t.Errorf("reading %q: %v", lines[1], err)
	}
	// The broker let the app in as the device, by the certificate the host presented.
	if !strings.Contains(broker.Log(), "u'device-1'") {
		t.Errorf("the broker did not see the device's certificate")
	}
}
