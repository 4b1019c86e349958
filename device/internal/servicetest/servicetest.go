// Package servicetest is a stand-in for the Rampart service's device API (/device/v1), for
// protocol-shape tests of the device runtime on its own.
//
// It checks what the device sends — methods, paths, content types, strict JSON, evidence that
// parses and verifies, a nonce it issued to that device and that is used once — and answers in
// the API's shapes: a nonce, a pass with a certificate for the evidence's Alias key from a test
// tenant CA, or a fail with a reason. It appraises nothing (any measurements pass unless a
// reason to fail is set), keeps no store and is not the service: the end-to-end test against
// the real `rampart server` is what shows that the two sides agree.
package servicetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// TenantID is the tenant every device of the stand-in belongs to.
const TenantID = "00000000-0000-4000-8000-000000000001"

// Service is a running stand-in. Set its fields under Lock to change its answers.
type Service struct {
	URL   string // https://127.0.0.1:PORT
	CAPEM []byte // PEM of the CA that the device must trust for the TLS server

	sync.Mutex
	FailReason, FailMessage string        // when FailReason is set, attestations fail with it
	WrongKey                bool          // issue certificates for a key other than the Alias key
	CertLife                time.Duration // life of issued certificates; 24 h if zero
	Nonces, Attests         int           // requests answered
	Checkins                []ident.DeviceID
	Evidence                []*evidence.Evidence // verified evidence received, in order
	Problems                []string             // requests that were not in the expected shape

	issued   map[string]ident.DeviceID // nonce → device
	caCert   *x509.Certificate
	caKey    *ecdsa.PrivateKey
	caPEMStr string
}

// New starts a stand-in for the duration of the test.
func New(t testing.TB) *Service {
	s := &Service{issued: map[string]ident.DeviceID{}}
	s.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "servicetest tenant CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &s.caKey.PublicKey, s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	s.caCert, _ = x509.ParseCertificate(der)
	s.caPEMStr = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))

	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.DevicePathNonce, s.nonce)
	mux.HandleFunc("POST "+api.DevicePathAttest, s.attest)
	mux.HandleFunc("GET "+api.DevicePathWhoami, s.whoami)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such route"})
	})
	srv := httptest.NewUnstartedServer(mux)
	pool := x509.NewCertPool()
	pool.AddCert(s.caCert)
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return s
}

func (s *Service) problem(format string, args ...any) {
	s.Lock()
	defer s.Unlock()
	s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Service) nonce(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.problem("nonce request with Content-Type %q", ct)
	}
	var req api.NonceRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		s.problem("nonce request body: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request"})
		return
	}
	if _, err := ident.ParseDeviceID(string(req.DeviceID)); err != nil {
		s.problem("nonce request: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	n := make([]byte, 32)
	rand.Read(n)
	s.Lock()
	s.Nonces++
	s.issued[string(n)] = req.DeviceID
	s.Unlock()
	writeJSON(w, http.StatusOK, api.NonceResponse{Nonce: n, ExpiresAt: time.Now().Add(5 * time.Minute)})
}

func (s *Service) attest(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, reason, msg string) {
		writeJSON(w, status, api.AttestResponse{Result: api.AttestFail, Reason: reason, Message: msg})
	}
	if ct := r.Header.Get("Content-Type"); ct != api.EvidenceContentType {
		s.problem("attest request with Content-Type %q", ct)
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, evidence.MaxSize+1))
	ev, err := evidence.Parse(b)
	if err == nil {
		err = ev.Verify()
	}
	if err != nil {
		s.problem("evidence: %v", err)
		fail(http.StatusBadRequest, api.ReasonMalformed, err.Error())
		return
	}
	s.Lock()
	defer s.Unlock()
	s.Attests++
	s.Evidence = append(s.Evidence, ev)
	dev, ok := s.issued[string(ev.Claims.Nonce)]
	delete(s.issued, string(ev.Claims.Nonce))
	switch {
	case !ok:
		s.Problems = append(s.Problems, "evidence with a nonce not issued or used before")
		fail(http.StatusForbidden, api.ReasonStaleNonce, "the nonce is unknown, used or expired")
		return
	case dev != ev.DeviceID:
		s.Problems = append(s.Problems, "evidence with another device's nonce")
		fail(http.StatusForbidden, api.ReasonNonceForOther, "the nonce was issued to another device")
		return
	case s.FailReason != "":
		fail(http.StatusForbidden, s.FailReason, s.FailMessage)
		return
	}
	pub := ev.AliasCert.PublicKey
	if s.WrongKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	life := s.CertLife
	if life == 0 {
		life = 24 * time.Hour
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: string(ev.DeviceID)},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(life),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caCert, pub, s.caKey)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
		return
	}
	writeJSON(w, http.StatusOK, api.AttestResponse{Result: api.AttestPass, Mode: "normal",
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CAChain:     s.caPEMStr, ExpiresAt: tmpl.NotAfter})
}

func (s *Service) whoami(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "this route needs mutual TLS with a device certificate; attest first"})
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	id, err := ident.ParseDeviceID(leaf.Subject.CommonName)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not a device certificate"})
		return
	}
	s.Lock()
	s.Checkins = append(s.Checkins, id)
	s.Unlock()
	writeJSON(w, http.StatusOK, api.DeviceWhoami{DeviceID: id, TenantID: TenantID})
}
