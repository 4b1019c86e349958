package transport_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/transport"
)

// serve answers every request with status, header and body.
func serve(t *testing.T, status int, header http.Header, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

// TestErrorClasses: every failure is of exactly one class, retry later or rejected, as the
// package doc lists them.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		retry  bool
	}{
		{"bad request", http.StatusBadRequest, false},
		{"unauthorized", http.StatusUnauthorized, false},
		{"forbidden", http.StatusForbidden, false},
		{"not found", http.StatusNotFound, false},
		{"conflict", http.StatusConflict, false},
		{"too large", http.StatusRequestEntityTooLarge, false},
		{"request timeout", http.StatusRequestTimeout, true},
		{"rate limited", http.StatusTooManyRequests, true},
		{"internal error", http.StatusInternalServerError, true},
		{"bad gateway", http.StatusBadGateway, true},
		{"unavailable", http.StatusServiceUnavailable, true},
		{"redirect", http.StatusFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.status, nil, `{"error":"because\nreasons"}`)
			r, err := transport.Request(context.Background(), s.Client(), s.URL, http.MethodGet, "/x", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			e := error(transport.Refusal(r))
			if errors.Is(e, transport.ErrRetryLater) != tc.retry || errors.Is(e, transport.ErrRejected) == tc.retry {
				t.Errorf("%d: retry later %v, rejected %v; want retry later %v", tc.status, errors.Is(e, transport.ErrRetryLater), errors.Is(e, transport.ErrRejected), tc.retry)
			}
			if !strings.Contains(e.Error(), `because\nreasons`) || strings.Contains(e.Error(), "\n") {
				t.Errorf("%v: want the service's reason on one line, its newline escaped", e)
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		s := serve(t, http.StatusOK, nil, "")
		s.Close()
		_, err := transport.Request(context.Background(), s.Client(), s.URL, http.MethodGet, "/x", "", nil)
		if !errors.Is(err, transport.ErrRetryLater) || errors.Is(err, transport.ErrRejected) {
			t.Errorf("%v: want retry later", err)
		}
	})
	t.Run("malformed answer", func(t *testing.T) {
		var v struct{}
		err := transport.Decode([]byte(`{} {}`), &v)
		if !errors.Is(err, transport.ErrRetryLater) || !strings.Contains(err.Error(), "trailing data") {
			t.Errorf("%v: want retry later, trailing data", err)
		}
	})
}

// TestEndlessAnswerRefused: a service (or whoever sits in its place) that answers without end
// cannot make the device read more than MaxResponse bytes.
func TestEndlessAnswerRefused(t *testing.T) {
	t.Parallel()
	s := serve(t, http.StatusOK, nil, strings.Repeat("x", transport.MaxResponse+1))
	_, err := transport.Request(context.Background(), s.Client(), s.URL, http.MethodGet, "/x", "", nil)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("%v: want the answer refused as too large", err)
	}
}

// TestHugeRetryAfterCannotSilenceDevice: a 429 asking for a wait of years is capped at
// MaxRetryAfter; one asking for none waits at least a second; one without a header waits
// DefaultRetryAfter.
func TestHugeRetryAfterCannotSilenceDevice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"999999999", transport.MaxRetryAfter},
		{"0", time.Second},
		{"-5", time.Second},
		{"", transport.DefaultRetryAfter},
		{"soon", transport.DefaultRetryAfter},
		{"120", 2 * time.Minute},
	} {
		r := transport.Response{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {tc.header}}}
		if got := transport.Refusal(r).RetryAfter; got != tc.want {
			t.Errorf("Retry-After %q: wait %s, want %s", tc.header, got, tc.want)
		}
	}
	if got := transport.Refusal(transport.Response{Status: http.StatusServiceUnavailable}).RetryAfter; got != 0 {
		t.Errorf("503: RetryAfter %s, want 0 (the caller's own backoff)", got)
	}
}
