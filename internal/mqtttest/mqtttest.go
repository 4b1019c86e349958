// Package mqtttest starts a real Mosquitto broker for tests: one TLS listener on 127.0.0.1 that
// requires a client certificate and names each client by its certificate's CN, as a broker in
// front of a Rampart fleet is set up. The service's tests (server/pki, server/httpapi) and the
// device's (device/apphost) share it, so that there is one broker setup to keep right.
package mqtttest

import (
	"bytes"
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
)

// Config names the files of the broker's TLS listener.
type Config struct {
	CAFile   string // the CAs whose client certificates the broker accepts (PEM)
	CertFile string // the broker's own certificate chain (PEM)
	KeyFile  string // its private key (PEM)
	CRLFile  string // if not empty, the CRLs (PEM) client certificates are checked against
}

// Broker is a running Mosquitto.
type Broker struct {
	Addr string // 127.0.0.1:port
	Port int
	log  *Buffer
}

// Log returns what the broker has logged so far (log_type all: connections, subscriptions,
// client names).
func (b *Broker) Log() string { return b.log.String() }

// Binary finds a Mosquitto program (mosquitto, mosquitto_sub): on PATH, or where Debian installs
// it. It skips the test in -short mode and fails it if the program is missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Mosquitto broker; not in -short mode")
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	t.Fatalf("%s is not installed: run scripts/test-services, or use -short to leave the Mosquitto tests out", name)
	return ""
}

// Start starts a broker with cfg's listener; it is stopped when the test ends, and its log is
// shown if the test failed.
func Start(t testing.TB, cfg Config) *Broker {
	t.Helper()
	bin := Binary(t, "mosquitto")
	dir := t.TempDir()
	// Run as whoever runs the test: as root, Mosquitto would otherwise switch to user
	// "mosquitto", who cannot read the test's files.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	log := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", log)
		}
	})
	// A free port may be taken between finding and binding it: try a few.
	for attempt := 1; attempt <= 5; attempt++ {
		port := FreePort(t)
		conf := filepath.Join(dir, "mosquitto.conf")
		lines := []string{
			"user " + me.Username,
			"persistence false",
			"log_dest stderr",
			"log_type all",
			"per_listener_settings false",
			fmt.Sprintf("listener %d 127.0.0.1", port),
			"cafile " + cfg.CAFile,
			"certfile " + cfg.CertFile,
			"keyfile " + cfg.KeyFile,
			"require_certificate true",
			"use_identity_as_username true",
			// No password file: a client is let in by its certificate alone.
			"allow_anonymous false",
		}
		if cfg.CRLFile != "" {
			lines = append(lines, "crlfile "+cfg.CRLFile)
		}
		if err := os.WriteFile(conf, []byte(strings.Join(append(lines, ""), "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-c", conf)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if waitListening(addr, exited) {
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})
			return &Broker{Addr: addr, Port: port, log: log}
		}
		select {
		case <-exited:
			t.Logf("mosquitto exited on port %d (attempt %d): %v", port, attempt, cmd.ProcessState)
		default:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("mosquitto did not listen on %s within 10s", addr)
		}
	}
	t.Fatal("mosquitto did not start")
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening reports whether addr accepts TCP connections before the process exits or 10
// seconds pass.
func waitListening(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Buffer collects a process's output, written by exec's copying goroutine while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
