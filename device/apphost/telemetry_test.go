package apphost_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
)

// TestTelemetryPublishesToMosquitto runs the telemetry sample against a real broker that
// requires a client certificate: the app's MQTT session rides on the host's TLS with the
// device certificate, and a subscriber (mosquitto_sub) receives its readings.
func TestTelemetryPublishesToMosquitto(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a Mosquitto broker; not in -short mode")
	}
	mosquitto, err := exec.LookPath("mosquitto")
	if err != nil {
		mosquitto = "/usr/sbin/mosquitto"
	}
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub is not installed: run scripts/test-services, or use -short to leave this test out")
	}
	root := newCA(t, "tenant CA")
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	writePEM(t, &tls.Certificate{Certificate: [][]byte{root.cert.Raw}}, file("ca.pem"), "")
	writePEM(t, root.issue(t, "broker", true), file("broker.pem"), file("broker.key"))
	writePEM(t, root.issue(t, "subscriber", false), file("sub.pem"), file("sub.key"))
	device := root.issue(t, "device-1", false)

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := strings.Join([]string{
		"user " + me.Username,
		"persistence false",
		"log_dest stderr",
		"log_type all",
		fmt.Sprintf("listener %d 127.0.0.1", port),
		"cafile " + file("ca.pem"),
		"certfile " + file("broker.pem"),
		"keyfile " + file("broker.key"),
		"require_certificate true",
		"use_identity_as_username true",
		"allow_anonymous false",
		"",
	}, "\n")
	if err := os.WriteFile(file("mosquitto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var brokerLog syncBuffer
	broker := exec.Command(mosquitto, "-c", file("mosquitto.conf"))
	broker.Stdout, broker.Stderr = &brokerLog, &brokerLog
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		broker.Process.Kill()
		broker.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", brokerLog.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, "mosquitto to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

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
	data := filepath.Join(e.dir, apphost.DirAppData, m.ComponentId)
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "config.json"), cfg, 0o600); err != nil {
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
	if !strings.Contains(brokerLog.String(), "u'device-1'") {
		t.Errorf("the broker did not see the device's certificate")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output, written by exec's copying goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
