package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/rampart-iot/rampart/device/update"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/safetext"
)

// MaxResponse bounds every response body the device reads.
const MaxResponse = update.MaxResponse

// newClient returns an HTTP client that trusts only roots, speaks TLS 1.2 or later, keeps
// connections alive and resumes TLS sessions, and presents cert if it is not nil. It never
// follows a redirect.
func newClient(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(8),
	}
	if cert != nil {
		// Always present the device certificate, whatever CAs the server says it accepts.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       cfg,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     true,
		},
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// call sends one request and returns the status and the body, read up to MaxResponse.
func (a *Agent) call(ctx context.Context, c *http.Client, method, path, contentType string, body []byte) (int, []byte, error) {
	return update.Request(ctx, c, a.dev.ServiceURL, method, path, contentType, body)
}

// refusal turns an unsuccessful answer into an error: an [AttestError] when the body carries a
// failed attestation result, else the service's error message.
func refusal(status int, b []byte) error {
	var r struct {
		api.AttestResponse
		Error string `json:"error"`
	}
	if err := update.DecodeResponse(b, &r); err == nil {
		if r.Result == api.AttestFail && r.Reason != "" {
			return &AttestError{Reason: safetext.Line(r.Reason, maxServiceText), Message: safetext.Line(r.Message, maxServiceText)}
		}
		if r.Error != "" {
			return &ServiceError{Status: status, Message: safetext.Line(r.Error, maxServiceText)}
		}
	}
	return &ServiceError{Status: status, Message: http.StatusText(status)}
}

// ServiceError is an answer of the service other than the one expected.
type ServiceError struct {
	Status  int
	Message string
}

// maxServiceText bounds the service's words that the device logs or keeps, in bytes.
const maxServiceText = 600

func (e *ServiceError) Error() string {
	return fmt.Sprintf("the service answered %d: %s", e.Status, e.Message)
}

// FetchRuntimeKeys asks the service at serviceURL for the operator's runtime-signing public keys
// (api.DevicePathRuntimeKeys), over TLS that trusts only caPEM and presents no certificate:
// `rampart-device init` stores them for stage 0. It returns them as PEM, checked.
func FetchRuntimeKeys(ctx context.Context, serviceURL string, caPEM []byte) ([]byte, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the service CA holds no certificate")
	}
	c := newClient(roots, nil)
	defer c.CloseIdleConnections()
	a := &Agent{dev: state.Device{ServiceURL: strings.TrimSuffix(serviceURL, "/")}}
	status, b, err := a.call(ctx, c, http.MethodGet, api.DevicePathRuntimeKeys, "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, refusal(status, b)
	}
	var rk api.RuntimeKeys
	if err := update.DecodeResponse(b, &rk); err != nil {
		return nil, err
	}
	if len(rk.Keys) == 0 {
		return nil, errors.New("the service offers no runtime-signing key")
	}
	var out []byte
	for _, k := range rk.Keys {
		out = append(out, strings.TrimSpace(k)...)
		out = append(out, '\n')
	}
	if _, err := state.ParseRuntimeKeys(out); err != nil {
		return nil, fmt.Errorf("the service's %w", err)
	}
	return out, nil
}
