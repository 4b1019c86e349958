package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server"
)

// devServer starts a --dev server in dir and returns its host:port and a TLS config that
// trusts it.
func devServer(t *testing.T, dir string, cfg server.Config) (string, *tls.Config) {
	t.Helper()
	cfg.DataDir, cfg.Dev = dir, true
	start(t, cfg)
	env := map[string]string{}
	for _, line := range strings.Split(string(waitFile(t, filepath.Join(dir, server.DevEnvFile))), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = v
		}
	}
	u, err := url.Parse(env["RAMPART_SERVER"])
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(env["RAMPART_CACERT"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return u.Host, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// TestTLS12CBCSuitesRefused: a client offering only TLS 1.2 CBC suites (or RSA key exchange)
// gets no connection; TLS 1.2 with ECDHE and an AEAD, and TLS 1.3, do.
func TestTLS12CBCSuitesRefused(t *testing.T) {
	addr, conf := devServer(t, t.TempDir(), server.Config{})
	dial := func(version uint16, suites ...uint16) error {
		c := conf.Clone()
		c.MinVersion, c.MaxVersion, c.CipherSuites = version, version, suites
		conn, err := tls.Dial("tcp", addr, c)
		if err == nil {
			conn.Close()
		}
		return err
	}
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA} {
		if err := dial(tls.VersionTLS12, s); err == nil {
			t.Errorf("TLS 1.2 with %s only: connected", tls.CipherSuiteName(s))
		}
	}
	if err := dial(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); err != nil {
		t.Errorf("TLS 1.2 with ECDHE-ECDSA-AES128-GCM: %v", err)
	}
	if err := dial(tls.VersionTLS13); err != nil {
		t.Errorf("TLS 1.3: %v", err)
	}
	if err := dial(tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1: connected")
	}
}

// TestSecurityHeadersOnEveryResponse: HSTS and nosniff on answers of every kind.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	addr, conf := devServer(t, t.TempDir(), server.Config{})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
	for _, path := range []string{"/healthz", "/api/v1/whoami", "/api/v1/nowhere", "/device/v1/whoami", "/device/v1/nowhere", "/elsewhere"} {
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s (%d): headers %v lack HSTS or nosniff", path, resp.StatusCode, resp.Header)
		}
	}
}

// TestDataFolderModes: the data folder becomes 0700 and the database files 0600 even when the
// folder was made open and the umask is permissive.
func TestDataFolderModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	devServer(t, dir, server.Config{})
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v %v, want mode 0700", fi, err)
	}
	for _, f := range []string{server.DBFile, server.DBFile + "-wal", server.DBFile + "-shm"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// TestConnectionCapPerSource: connections of one source beyond the cap are closed at once;
// one closed frees its slot.
func TestConnectionCapPerSource(t *testing.T) {
	addr, conf := devServer(t, t.TempDir(), server.Config{ConnsPerSource: 3})
	var held []net.Conn
	for range 3 {
		conn, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	if over, err := tls.Dial("tcp", addr, conf); err == nil {
		over.Close()
		t.Error("a connection beyond the cap completed its TLS handshake")
	}
	held[0].Close()
	for i := 0; ; i++ { // the slot comes back once the service has seen the close
		conn, err := tls.Dial("tcp", addr, conf)
		if err == nil {
			conn.Close()
			break
		}
		if i == 100 {
			t.Fatalf("after one connection closed, a new one still fails: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}

// TestSlowlorisDeviceBody: a client that sends a device route's headers and then trickles its
// body is cut off (the device routes' body deadline is seconds), instead of holding the
// connection for minutes.
func TestSlowlorisDeviceBody(t *testing.T) {
	addr, conf := devServer(t, t.TempDir(), server.Config{})
	c := conf.Clone()
	c.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{", api.DevicePathNonce)
	// Without a body deadline the service waits for the rest until the client gives up: this
	// test's own limit is far above the service's.
	conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the service still waits for the body of a trickling client")
	}
	if len(got) > 0 && !strings.Contains(string(got), " 400 ") && !strings.Contains(string(got), " 408 ") {
		t.Errorf("answer to a body that never came: %.200q", got)
	}
}

// TestOperatorTokenNotLostWhenItsFileCannotBeWritten: if operator.token cannot be written, no
// operator is made; once it can, the next start makes one and writes its token.
func TestOperatorTokenNotLostWhenItsFileCannotBeWritten(t *testing.T) {
	dir := t.TempDir()
	kek := strings.Repeat("ab", 32)
	tokenPath := filepath.Join(dir, server.OperatorTokenFile)
	if err := os.Mkdir(tokenPath, 0o700); err != nil { // a folder where the file should go
		t.Fatal(err)
	}
	// If the start went on despite the unwritable file, it would serve until this ends.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := server.Run(ctx, server.Config{DataDir: dir, KEK: kek, Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "operator token") {
		t.Fatalf("start with an unwritable token file: %v, want an error naming the operator token", err)
	}
	os.Remove(tokenPath)
	start(t, server.Config{DataDir: dir, KEK: kek})
	token := strings.TrimSpace(string(waitFile(t, tokenPath)))
	if !strings.HasPrefix(token, "rmp_") {
		t.Errorf("operator.token after the retry: %q", token)
	}
}

// uploadRelease publishes size bytes as a runtime release through a raw TLS connection, handing
// the body over in 64 KiB pieces with pause between them (and stall before the second), and
// returns the status line the service answered, or "" if it closed the connection instead.
func uploadRelease(t *testing.T, addr string, conf *tls.Config, token string, size int, pause, stall time.Duration) string {
	t.Helper()
	c := conf.Clone()
	c.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", addr, c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/os/releases?feed=Retail&version=9.%d.0 HTTP/1.1\r\nHost: localhost\r\n"+
		"Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		size, token, size)
	piece := bytes.Repeat([]byte{'r'}, 64<<10)
	for sent := 0; sent < size; sent += len(piece) {
		if sent == len(piece) {
			time.Sleep(stall)
		}
		if _, err := conn.Write(piece[:min(len(piece), size-sent)]); err != nil {
			return "" // the service closed the connection
		}
		time.Sleep(pause)
	}
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line)
}

// TestSlowUploadThatKeepsProgressingSucceeds: an upload that takes many times the stall limit
// in all, but delivers 64 KiB well within each, is accepted; one that stops sending for longer
// than the stall limit is dropped. (A fixed total deadline would refuse the first.)
func TestSlowUploadThatKeepsProgressingSucceeds(t *testing.T) {
	const stall = 2 * time.Second
	dir := t.TempDir()
	addr, conf := devServer(t, dir, server.Config{UploadStall: stall})
	token := ""
	for _, line := range strings.Split(string(waitFile(t, filepath.Join(dir, server.DevEnvFile))), "\n") {
		if v, ok := strings.CutPrefix(line, "export RAMPART_TOKEN="); ok {
			token = v
		}
	}
	// 16 pieces, a quarter of a second apart: 4 s in all, twice the stall limit.
	if got := uploadRelease(t, addr, conf, token, 16*64<<10, stall/8, 0); !strings.Contains(got, " 201 ") {
		t.Errorf("a slow upload that keeps making progress: %q, want 201", got)
	}
	// One piece, then silence for three times the stall limit.
	if got := uploadRelease(t, addr, conf, token, 4*64<<10, 0, 3*stall); strings.Contains(got, " 201 ") {
		t.Errorf("an upload that stalled: %q, want it dropped", got)
	}
}
