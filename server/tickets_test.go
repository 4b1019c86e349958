package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/server/pki"
)

// ticketServer is one instance of the service's TLS server: it answers each connection with one
// byte (so that the client reads the session tickets sent after the handshake) and closes it.
func ticketServer(t testing.TB, cert tls.Certificate, kek *pki.KEK, now func() time.Time) string {
	t.Helper()
	cfg := TLSConfig(cert)
	sessionTickets(cfg, kek, now)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// dial connects to addr as "localhost", with the client's session cache, and reports whether
// the session was resumed.
func dial(t testing.TB, addr string, roots *x509.CertPool, cache tls.ClientSessionCache) bool {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState().DidResume
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

// TestSessionResumedByAnotherInstance: a session that one instance of the service issued is
// resumed by another (a replica, or the same service after a restart) with the same
// key-encryption key, and by no instance with another key or once its key has rotated out.
func TestSessionResumedByAnotherInstance(t *testing.T) {
	cert, roots := selfSigned(t)
	kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
	other, _ := pki.ParseKEK(strings.Repeat("43", 32))
	now := time.Now()
	clock := func() time.Time { return now }
	first := ticketServer(t, cert, kek, clock)
	second := ticketServer(t, cert, kek, clock)
	stranger := ticketServer(t, cert, other, clock)
	later := time.Now().Add(2 * ticketKeyPeriod)
	rotated := ticketServer(t, cert, kek, func() time.Time { return later })

	cases := []struct {
		name   string
		addr   string
		resume bool
	}{
		{"another instance with the same key", second, true},
		{"an instance with another key", stranger, false},
		{"an instance two periods later", rotated, false},
	}
	for _, tc := range cases {
		cache := tls.NewLRUClientSessionCache(4)
		if dial(t, first, roots, cache) {
			t.Fatal("the first connection resumed a session")
		}
		if got := dial(t, tc.addr, roots, cache); got != tc.resume {
			t.Errorf("%s: resumed %v, want %v", tc.name, got, tc.resume)
		}
	}
}

// BenchmarkReconnect measures a reconnection to the service's TLS server: "full" with no
// session to resume, "resumed" with a session another instance issued first (each resumption
// then brings a new ticket). The client's side is included.
func BenchmarkReconnect(b *testing.B) {
	for _, resume := range []bool{false, true} {
		b.Run(map[bool]string{false: "full", true: "resumed"}[resume], func(b *testing.B) {
			cert, roots := selfSigned(b)
			kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
			first, second := ticketServer(b, cert, kek, nil), ticketServer(b, cert, kek, nil)
			var cache tls.ClientSessionCache
			if resume {
				cache = tls.NewLRUClientSessionCache(4)
				dial(b, first, roots, cache) // the session to resume, from the other instance
			}
			resumed, cpu := 0, cpuTime()
			for b.Loop() {
				if dial(b, second, roots, cache) {
					resumed++
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(resumed)/float64(b.N), "resumed/op")
		})
	}
}

// cpuTime returns the CPU time the process has used, in nanoseconds: on a shared machine a
// steadier measure of work than the wall clock.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
