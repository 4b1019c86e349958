// Package transport is how the device speaks to the service over HTTPS: the client (the
// service's CA pinned, mutual TLS with the device certificate, timeouts), one request helper
// that reads every answer up to [MaxResponse], the bounded JSON decoding of answers, and the one
// error type, [Error], for an answer other than the one expected.
//
// The agent (attestation, check-in, development capability), the update client and the event
// uploader all speak through it, so that each of them tells failures apart the same way:
//
//   - [ErrRetryLater]: no answer (network, timeout, a malformed answer), a 5xx, a 408, or a 429
//     — whose Retry-After, bounded, is in [Error.RetryAfter]. Nothing is wrong with the request:
//     try it again after a backoff.
//   - [ErrRejected]: any other 4xx, with the service's reason in [Error.Message]. Sending the
//     same request again will not help until something changes on the service's side.
//
// A refused attestation (package agent's AttestError) is of the same two classes, by its
// reason. "Reject this image" and "raise an alarm" are decided above this package, from what
// a successful answer holds (package update's ErrRefused, package boot's ErrAlarm).
package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// MaxResponse bounds every response body the device reads, but for downloads of images and
// TUF metadata, which their signed lengths bound.
const MaxResponse = 1 << 20

// Bounds of a service's Retry-After.
const (
	// DefaultRetryAfter is the wait of a 429 that names none.
	DefaultRetryAfter = 30 * time.Second
	// MaxRetryAfter caps a service's Retry-After, so that a wrong one cannot silence a device.
	MaxRetryAfter = 24 * time.Hour
)

// NewClient returns an HTTP client that trusts only roots, speaks TLS 1.2 or later, keeps
// connections alive and resumes TLS sessions, and presents cert if it is not nil (mutual TLS
// with the device certificate). It has timeouts for every phase and never follows a redirect.
func NewClient(roots *x509.CertPool, cert *tls.Certificate) *http.Client {
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

// Response is an answer of the service, its body read whole (at most [MaxResponse] bytes).
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// Request sends one request to serviceURL+path and returns the answer, whatever its status.
// body, if not nil, goes with contentType. The error, when there was no answer, is an [Error]
// of class [ErrRetryLater].
func Request(ctx context.Context, hc *http.Client, serviceURL, method, path, contentType string, body []byte) (Response, error) {
	return RequestWith(ctx, hc, serviceURL, method, path, contentType, body, nil)
}

// RequestWith is [Request] with more request headers (If-None-Match, for one).
func RequestWith(ctx context.Context, hc *http.Client, serviceURL, method, path, contentType string, body []byte,
	header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, serviceURL+path, bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, &Error{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return Response{}, &Error{Err: fmt.Errorf("%s %s: %w", method, path, err)}
	}
	if len(b) > MaxResponse {
		return Response{}, &Error{Err: fmt.Errorf("%s %s: response larger than %d bytes", method, path, MaxResponse)}
	}
	return Response{Status: resp.StatusCode, Body: b, Header: resp.Header}, nil
}

// Decode decodes a response body: one JSON value, nothing after it. Fields it does not know
// are ignored, unlike in the device's own files: a service may grow its answers, and devices
// in the field must keep understanding it. Every value used is checked after. A malformed
// body is an [Error] of class [ErrRetryLater].
func Decode(b []byte, v any) error {
	if err := strictjson.DecodeAnswer(b, v); err != nil {
		return &Error{Err: fmt.Errorf("malformed response from the service: %v", err)}
	}
	return nil
}

// Classes of [Error], for errors.Is.
var (
	// ErrRetryLater: the request may succeed as it is, later.
	ErrRetryLater = errors.New("retry later")
	// ErrRejected: the service refused the request; it will refuse it again.
	ErrRejected = errors.New("rejected by the service")
)

// Error is a request that did not get the answer expected: no answer at all (Status 0, Err
// says why), or an answer with another status.
type Error struct {
	Status     int           // the service's status; 0 when there was no usable answer
	Message    string        // the service's reason, or the status text; one printable line
	RetryAfter time.Duration // for a 429: the wait the service asked for, bounded
	Err        error         // when Status is 0: what went wrong
}

// Refusal makes the [Error] for an answer r that is not the one expected: its message is the
// "error" of a JSON error body, else the status text.
func Refusal(r Response) *Error {
	e := &Error{Status: r.Status, Message: http.StatusText(r.Status)}
	var body struct {
		Error string `json:"error"`
	}
	if Decode(r.Body, &body) == nil && body.Error != "" {
		e.Message = Clean(body.Error)
	}
	if r.Status == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(r.Header.Get("Retry-After"), time.Now())
	}
	return e
}

func (e *Error) Error() string {
	if e.Status == 0 && e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("the service answered %d: %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRetryLater) and errors.Is(err, ErrRejected) tell the classes apart.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRetryLater:
		return !e.rejected()
	case ErrRejected:
		return e.rejected()
	}
	return false
}

func (e *Error) rejected() bool {
	return e.Status/100 == 4 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; DefaultRetryAfter if it has
// none. The result is between a second and MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	d := DefaultRetryAfter
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, time.Second), MaxRetryAfter)
}

// MaxServiceText bounds the service's words that the device logs or keeps, in bytes.
const MaxServiceText = 600

// Clean makes text from the service safe to print on one line of a terminal, escaped with
// [safetext.Line], and at most [MaxServiceText] bytes.
func Clean(s string) string { return safetext.Line(s, MaxServiceText) }
