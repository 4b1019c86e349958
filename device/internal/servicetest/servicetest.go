// Package servicetest is a stand-in for the Rampart service's device API (/device/v1), for
// protocol-shape tests of the device runtime on its own, and for the faults that the real
// service cannot be made to show on demand.
//
// It checks what the device sends — methods, paths, content types, strict JSON, evidence that
// parses and verifies, a nonce it issued to that device and that is used once, mutual TLS
// where the API needs it — and answers in the API's shapes: a nonce, a pass with a certificate
// for the evidence's Alias key from a test tenant CA, or a fail with a reason; the runtime
// keys; update info; the development capability ([Service.Capability]); error events, stored
// by ID ([EventStore]) after the service's own check ([api.DeviceEvent.Check]), with lost
// answers, rate limits and refusals to inject; TUF repositories built with go-tuf's metadata
// package, whose targets are image packages made with imagepkg.Write ([Repo], [App],
// [Runtime]), with faults to inject ([Fault]); and update reports, which it records.
//
// # Why a stand-in
//
// Device code never imports server code (tree_test.go), so the real handlers cannot be served
// from here. What the stand-in shares with the service is what both sides import: the wire
// types and rules of package api (the event check among them), the evidence, capability and
// image formats. It appraises nothing (any measurements pass unless a reason to fail is set),
// keeps no store and is not the service: the end-to-end tests that run the real binaries
// against the real `rampart server` (cli/testdata/script: attest, update, outage, report) are
// what show that the two sides agree.
package servicetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2/credactivation"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// TenantID is the tenant every device of the stand-in belongs to.
const TenantID = "00000000-0000-4000-8000-000000000001"

// GroupID is the device group of the default update info.
const GroupID = "00000000-0000-4000-8000-000000000002"

// Repository names of the default update info.
const (
	GroupRepo = "group/" + GroupID
	FeedRepo  = "feed/" + api.FeedRetail
)

// Service is a running stand-in. Set its fields under Lock to change its answers.
type Service struct {
	URL   string // https://127.0.0.1:PORT
	CAPEM []byte // PEM of the CA that the device must trust for the TLS server

	sync.Mutex
	FailReason, FailMessage string // when FailReason is set, attestations fail with it
	WrongKey                bool   // issue certificates for a key other than the Alias key
	Nonces, Attests         int    // requests answered
	LastNonce               []byte // the last nonce issued
	Checkins                []ident.DeviceID
	Evidence                []*evidence.Evidence // verified evidence received, in order
	Problems                []string             // requests that were not in the expected shape
	Requests                []string             // every request answered: "METHOD PATH"

	// RuntimeKey is the operator's runtime-signing key: its public key is served at
	// api.DevicePathRuntimeKeys. ImageKey is the tenant's image-signing key.
	RuntimeKey, ImageKey *ecdsa.PrivateKey
	// Updates is the answer to api.DevicePathUpdates: by default the group and feed
	// repositories GroupRepo and FeedRepo, UpdateAll and ImageKey.
	Updates api.UpdateInfo
	// ETag, if set, is the ETag of the Updates answer, with a digest of who the answer says the
	// device is appended as the service's covers it: a request that sends it in If-None-Match is
	// answered 304. The test changes it when it wants the device to see that something moved
	// (or keeps it, to play a service that says nothing moved when its metadata did).
	ETag        string
	TUFRequests int                // TUF metadata and target requests answered
	Reports     []api.UpdateReport // update reports received, in order
	// ReportStatus, if not zero, is the status with which update reports are refused.
	ReportStatus int
	Ranges       []string // the Range header of each target request ("" for none)
	// Capability is the answer to api.DevicePathCapability: the bytes of a development
	// capability, served to any device, or nil for a 404 ([Service.DevelopmentCapability]
	// makes one).
	Capability         []byte
	CapabilityRequests int
	// SayCapability makes whoami and the update info name the capability (its SHA-256, or ""
	// without one), as the service does; without it they are an older service's, which does not.
	SayCapability bool
	// WhoamiOnly makes the update info leave out who the device is, as an older service's
	// does: the device then asks whoami as well.
	WhoamiOnly bool
	// EventStore holds the error events received (api.DevicePathEvents) and their faults.
	EventStore EventStore
	// Down makes the stand-in close every connection without an answer, as a service that
	// is down or out of reach.
	Down  bool
	repos map[string]*Repo

	issued   map[string]ident.DeviceID // nonce → device
	secrets  map[string][]byte         // nonce → TPM activation secret
	caCert   *x509.Certificate
	caKey    *ecdsa.PrivateKey
	caPEMStr string
}

// New starts a stand-in for the duration of the test.
func New(t testing.TB) *Service {
	s := &Service{issued: map[string]ident.DeviceID{}, secrets: map[string][]byte{}, repos: map[string]*Repo{}}
	s.RuntimeKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.ImageKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.Updates = api.UpdateInfo{GroupRepo: GroupRepo, FeedRepo: FeedRepo, UpdatePolicy: api.PolicyAll,
		ImageKeys: []string{PublicKeyPEM(&s.ImageKey.PublicKey)}}
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
	mux.HandleFunc("GET "+api.DevicePathRuntimeKeys, s.runtimeKeys)
	mux.HandleFunc("GET "+api.DevicePathUpdates, s.updates)
	mux.HandleFunc("POST "+api.DevicePathUpdateReport, s.updateReport)
	mux.HandleFunc("GET "+api.DevicePathTUF, s.serveTUF)
	mux.HandleFunc("GET "+api.DevicePathCapability, s.capability)
	mux.HandleFunc("POST "+api.DevicePathEvents, s.events)
	mux.HandleFunc("GET "+api.DevicePathNotify, s.notify)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such route"})
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Lock()
		down := s.Down
		if !down {
			s.Requests = append(s.Requests, r.Method+" "+r.URL.Path)
		}
		s.Unlock()
		if down {
			panic(http.ErrAbortHandler)
		}
		mux.ServeHTTP(w, r)
	}))
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
	if err := strictjson.DecodeReader(r.Body, 4<<10, &req); err != nil {
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
	resp := api.NonceResponse{Nonce: n, ExpiresAt: time.Now().Add(5 * time.Minute)}
	var secret []byte
	if req.TPM != nil {
		var err error
		if resp.TPMCredential, secret, err = credentialChallenge(req); err != nil {
			s.problem("nonce request: TPM keys: %v", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	s.Lock()
	s.Nonces++
	s.issued[string(n)] = req.DeviceID
	if secret != nil {
		s.secrets[string(n)] = secret
	}
	s.LastNonce = n
	s.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// credentialChallenge makes a credential challenge for a TPM device's keys, as the service
// does (with a random secret instead of one derived from the nonce).
func credentialChallenge(req api.NonceRequest) (*api.TPMCredential, []byte, error) {
	spki, name, err := evidence.TPMAttestationKey(req.TPM.AKPublic)
	if err != nil {
		return nil, nil, err
	}
	if ident.DeviceIDFromPublicKey(spki) != req.DeviceID {
		return nil, nil, fmt.Errorf("the device ID is not the SHA-256 of the attestation key")
	}
	ek, err := attest.ParseEKCertificate(req.TPM.EKCertificate)
	if err != nil {
		return nil, nil, err
	}
	secret := make([]byte, evidence.TPMActivationSize)
	rand.Read(secret)
	cred, enc, err := credactivation.Generate(name, ek.PublicKey, 16, secret)
	if err != nil {
		return nil, nil, err
	}
	return &api.TPMCredential{Credential: cred, Secret: enc}, secret, nil
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
	secret := s.secrets[string(ev.Claims.Nonce)]
	delete(s.issued, string(ev.Claims.Nonce))
	delete(s.secrets, string(ev.Claims.Nonce))
	switch {
	case !ok:
		s.Problems = append(s.Problems, "evidence with a nonce not issued or used before")
		fail(http.StatusForbidden, api.ReasonStaleNonce, "the nonce is unknown, used or expired")
		return
	case dev != ev.DeviceID:
		s.Problems = append(s.Problems, "evidence with another device's nonce")
		fail(http.StatusForbidden, api.ReasonNonceForOther, "the nonce was issued to another device")
		return
	case ev.Claims.TPM != nil && !bytes.Equal(ev.Claims.TPM.Activation, secret):
		fail(http.StatusForbidden, api.ReasonActivationFailed, "the activation secret is not the credential's")
		return
	case s.FailReason != "":
		fail(http.StatusForbidden, s.FailReason, s.FailMessage)
		return
	}
	var pub any = ev.SigningKey()
	if s.WrongKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: string(ev.DeviceID)},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(24 * time.Hour),
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

// device returns the device of a mutual-TLS request, or answers 401.
func (s *Service) device(w http.ResponseWriter, r *http.Request) (ident.DeviceID, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		s.problem("%s %s without a device certificate", r.Method, r.URL.Path)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "this route needs mutual TLS with a device certificate; attest first"})
		return "", false
	}
	leaf := r.TLS.PeerCertificates[0]
	id, err := ident.ParseDeviceID(leaf.Subject.CommonName)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "not a device certificate"})
		return "", false
	}
	return id, true
}

func (s *Service) whoami(w http.ResponseWriter, r *http.Request) {
	id, ok := s.device(w, r)
	if !ok {
		return
	}
	s.Lock()
	s.Checkins = append(s.Checkins, id)
	who := s.who(id)
	s.Unlock()
	writeJSON(w, http.StatusOK, who)
}

// who is what whoami and the update info say of device id. The caller holds s's lock.
func (s *Service) who(id ident.DeviceID) api.DeviceWhoami {
	who := api.DeviceWhoami{DeviceID: id, TenantID: TenantID}
	if s.SayCapability {
		digest := ""
		if s.Capability != nil {
			sum := sha256.Sum256(s.Capability)
			digest = hex.EncodeToString(sum[:])
		}
		who.CapabilitySHA256 = &digest
	}
	return who
}

// notify is the notification channel as the service opens it: a keep-alive line, then nothing
// until the device goes or the stand-in closes.
func (s *Service) notify(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.device(w, r); !ok {
		return
	}
	w.Header().Set("Content-Type", api.NotifyContentType)
	io.WriteString(w, `{"reason":"`+api.NoticeKeepAlive+`"}`+"\n")
	http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// PublicKeyPEM encodes a public key as PEM.
func PublicKeyPEM(k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (s *Service) runtimeKeys(w http.ResponseWriter, r *http.Request) {
	s.Lock()
	k := PublicKeyPEM(&s.RuntimeKey.PublicKey)
	s.Unlock()
	writeJSON(w, http.StatusOK, api.RuntimeKeys{Keys: []string{k}})
}

func (s *Service) updates(w http.ResponseWriter, r *http.Request) {
	id, ok := s.device(w, r)
	if !ok {
		return
	}
	s.Lock()
	info, etag := s.Updates, s.ETag
	if !s.WhoamiOnly {
		s.Checkins = append(s.Checkins, id)
		who := s.who(id)
		info.Device = &who
		if etag != "" {
			b, _ := json.Marshal(who)
			sum := sha256.Sum256(b)
			etag = strings.TrimSuffix(etag, `"`) + "-" + hex.EncodeToString(sum[:4]) + `"`
		}
	}
	s.Unlock()
	if etag != "" {
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Service) updateReport(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.device(w, r); !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.problem("update report with Content-Type %q", ct)
	}
	var rep api.UpdateReport
	if err := strictjson.DecodeReader(r.Body, 1<<20, &rep); err != nil {
		s.problem("update report body: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "malformed request"})
		return
	}
	switch {
	case rep.Result != api.UpdateOK && rep.Result != api.UpdateFailed && rep.Result != api.UpdateRolledBack:
		s.problem("update report with result %q", rep.Result)
	case len(rep.Installed) > api.MaxInstalledImages:
		s.problem("update report with %d images", len(rep.Installed))
	case rep.At.IsZero():
		s.problem("update report without a time")
	}
	for _, im := range rep.Installed {
		if !ident.IsID(im.ImageID) || !ident.IsID(im.ComponentID) || (im.Type != api.ImageApplication && im.Type != api.ImageRuntime) ||
			(im.Type == api.ImageRuntime) != (im.Slot != "") {
			s.problem("update report with installed image %+v", im)
		}
	}
	s.Lock()
	defer s.Unlock()
	if s.ReportStatus != 0 {
		writeJSON(w, s.ReportStatus, map[string]string{"error": "reports are refused for this test"})
		return
	}
	s.Reports = append(s.Reports, rep)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) capability(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.device(w, r); !ok {
		return
	}
	s.Lock()
	s.CapabilityRequests++
	b := s.Capability
	s.Unlock()
	if b == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this device holds no development capability"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// DevelopmentCapability returns a development capability for device id that accepts images
// signed by developerKeys, signed as the service signs it: with the tenant's ImageKey.
func (s *Service) DevelopmentCapability(t testing.TB, id ident.DeviceID, developerKeys ...*ecdsa.PublicKey) []byte {
	t.Helper()
	return SignCapability(t, s.ImageKey, id, developerKeys...)
}

// SignCapability returns a development capability for device id that accepts images signed by
// developerKeys, signed with key.
func SignCapability(t testing.TB, key *ecdsa.PrivateKey, id ident.DeviceID, developerKeys ...*ecdsa.PublicKey) []byte {
	t.Helper()
	d := capability.Development{Format: 1, TenantID: TenantID, DeviceID: id, IssuedAt: time.Now().UTC()}
	for _, k := range developerKeys {
		d.DeveloperKeys = append(d.DeveloperKeys, PublicKeyPEM(k))
	}
	b, err := capability.Sign(d, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DeviceCertificate issues a device certificate for id to a new key, as a passed attestation
// would, and returns both in PEM: the certificate followed by the tenant CA, and the key
// (PKCS #8). Tests of the update client use it to speak mutual TLS without attesting.
func (s *Service) DeviceCertificate(t testing.TB, id ident.DeviceID) (certPEM, keyPEM []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: string(id)},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caCert, &k.PublicKey, s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), s.caPEMStr...)
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// Client returns the device's own HTTP client (transport.NewClient) trusting caPEM and
// presenting the certificate and key given in PEM.
func Client(t testing.TB, caPEM, certPEM, keyPEM []byte) *http.Client {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	c := transport.NewClient(roots, &cert)
	t.Cleanup(c.CloseIdleConnections)
	return c
}
