package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
)

// call sends one request and returns the answer, read up to transport.MaxResponse.
func (a *Agent) call(ctx context.Context, c *http.Client, method, path, contentType string, body []byte) (transport.Response, error) {
	return transport.Request(ctx, c, a.dev.ServiceURL, method, path, contentType, body)
}

// refusal turns an unsuccessful answer into an error: an [AttestError] when the body carries a
// failed attestation result, else a [transport.Error] with the service's message.
func refusal(r transport.Response) error {
	var ar api.AttestResponse
	if err := transport.Decode(r.Body, &ar); err == nil && ar.Result == api.AttestFail && ar.Reason != "" {
		return &AttestError{Reason: clean(ar.Reason), Message: clean(ar.Message)}
	}
	return transport.Refusal(r)
}

// clean makes text from the service safe to print on one line of a terminal.
func clean(s string) string { return transport.Clean(s) }

// FetchRuntimeKeys asks the service at serviceURL for the operator's runtime-signing public keys
// (api.DevicePathRuntimeKeys), over TLS that trusts only caPEM and presents no certificate:
// `rampart-device init` stores them for stage 0. It returns them as PEM, checked.
func FetchRuntimeKeys(ctx context.Context, serviceURL string, caPEM []byte) ([]byte, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the service CA holds no certificate")
	}
	c := transport.NewClient(roots, nil)
	defer c.CloseIdleConnections()
	r, err := transport.Request(ctx, c, strings.TrimSuffix(serviceURL, "/"), http.MethodGet, api.DevicePathRuntimeKeys, "", nil)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, refusal(r)
	}
	var rk api.RuntimeKeys
	if err := transport.Decode(r.Body, &rk); err != nil {
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
