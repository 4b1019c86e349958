package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/rampart-iot/rampart/format/strictjson"
)

// Upload timing.
const (
	// DefaultInterval is how often stage 1 tries to upload while events are queued (it also
	// tries after every check-in).
	DefaultInterval = 5 * time.Minute
	// BackoffBase and BackoffCap bound the wait after a failed upload: full jitter over
	// BackoffBase·2ⁿ (or Interval·2ⁿ when that is shorter), at most BackoffCap.
	BackoffBase = 30 * time.Second
	BackoffCap  = time.Hour
	// maxRetryAfter caps a service's Retry-After, so that a wrong one cannot silence a device.
	maxRetryAfter = 24 * time.Hour
	// maxResponse bounds a response body read.
	maxResponse = 64 << 10
)

// ErrNoCertificate is returned by [Uploader.Upload] while the device has no certificate to
// speak mutual TLS with.
var ErrNoCertificate = errors.New("upload events: no device certificate yet")

// RetryAfterError is the service's 429: it takes no more events from this device for Wait.
type RetryAfterError struct{ Wait time.Duration }

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("upload events: the service is rate-limiting this device; trying again in %s", e.Wait)
}

// ServiceError is an answer of the service other than 200, 400 or 429.
type ServiceError struct {
	Status  int
	Message string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("upload events: the service answered %d: %s", e.Status, e.Message)
}

// Uploader sends a queue's events to the service (api.DevicePathEvents) over mutual TLS.
type Uploader struct {
	Queue      *Queue
	ServiceURL string              // https://HOST:PORT
	Client     func() *http.Client // the mutual-TLS client to use now; nil while there is none
	Interval   time.Duration       // DefaultInterval if 0
	BatchSize  int                 // api.MaxEventsPerBatch if 0
	Log        *log.Logger         // nil for none
	Now        func() time.Time
	// After waits, as time.After does (the default); tests see the waits through it.
	After func(time.Duration) <-chan time.Time
}

// Upload sends the queued events, batch by batch, until none is left or a batch fails; it
// returns how many events the service took. A batch leaves the queue only once the service has
// answered 200: a crash or a lost answer before that sends it again, under the same IDs. A 400
// that names an event drops that event (counted in the next batch's Dropped) and the rest is
// sent again; a 400 that names none halves the batch, down to one event, which is then dropped.
// Crash detail goes out only if the service's last answer allowed crash dumps.
func (u *Uploader) Upload(ctx context.Context) (int, error) {
	c := u.Client()
	if c == nil {
		return 0, ErrNoCertificate
	}
	limit, sent := u.batchSize(), 0
	for {
		b, err := u.Queue.take(limit)
		if err != nil {
			return sent, fmt.Errorf("upload events: %w", err)
		}
		if len(b.events) == 0 && b.dropped == 0 {
			return sent, nil
		}
		status, body, retryAfter, err := u.post(ctx, c, b)
		if err != nil {
			return sent, fmt.Errorf("upload events: %w", err)
		}
		switch status {
		case http.StatusOK:
			var r api.EventBatchResponse
			if err := decodeResponse(body, &r); err != nil {
				return sent, fmt.Errorf("upload events: %w", err)
			}
			if err := u.Queue.ack(b, r.AllowCrashDumps); err != nil {
				return sent, fmt.Errorf("upload events: %w", err)
			}
			sent += len(b.events)
			limit = u.batchSize()
		case http.StatusTooManyRequests:
			return sent, &RetryAfterError{Wait: retryAfter}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			msg := errorMessage(status, body)
			if i, ok := badIndex(msg); ok && i < len(b.events) {
				u.logf("the service refused event %s (%s): dropping it: %s", b.events[i].ID, b.events[i].Category, msg)
				if err := u.Queue.drop(b.events[i].ID); err != nil {
					return sent, fmt.Errorf("upload events: %w", err)
				}
				continue
			}
			if len(b.events) > 1 {
				limit = len(b.events) / 2 // find the event it refuses
				continue
			}
			if len(b.events) == 1 {
				u.logf("the service refused event %s (%s): dropping it: %s", b.events[0].ID, b.events[0].Category, msg)
				if err := u.Queue.drop(b.events[0].ID); err != nil {
					return sent, fmt.Errorf("upload events: %w", err)
				}
				continue
			}
			return sent, &ServiceError{Status: status, Message: msg}
		default:
			return sent, &ServiceError{Status: status, Message: errorMessage(status, body)}
		}
	}
}

func (u *Uploader) batchSize() int {
	if u.BatchSize > 0 && u.BatchSize < api.MaxEventsPerBatch {
		return u.BatchSize
	}
	return api.MaxEventsPerBatch
}

func (u *Uploader) logf(format string, args ...any) {
	if u.Log != nil {
		u.Log.Printf(format, args...)
	}
}

// post sends one batch and returns the status, the body and, for a 429, the wait asked for.
func (u *Uploader) post(ctx context.Context, c *http.Client, b batch) (int, []byte, time.Duration, error) {
	events := b.events
	if events == nil {
		events = []api.DeviceEvent{}
	}
	body, err := json.Marshal(api.EventBatch{Events: events, Dropped: min(b.dropped, api.MaxEventsDropped)})
	if err != nil {
		return 0, nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.ServiceURL+api.DevicePathEvents, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, 0, err
	}
	if len(rb) > maxResponse {
		return 0, nil, 0, fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return resp.StatusCode, rb, retryAfter(resp.Header.Get("Retry-After"), time.Now()), nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; BackoffBase if it has none.
func retryAfter(v string, now time.Time) time.Duration {
	d := BackoffBase
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, time.Second), maxRetryAfter)
}

// badIndexRE finds the index of the refused event in the service's message: "events[3]: …".
var badIndexRE = regexp.MustCompile(`^events\[(\d+)\]`)

func badIndex(msg string) (int, bool) {
	m := badIndexRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// errorMessage returns the "error" of a JSON error body, or the status text.
func errorMessage(status int, body []byte) string {
	var r struct {
		Error string `json:"error"`
	}
	if decodeResponse(body, &r) == nil && r.Error != "" {
		return safetext.Line(r.Error, 300)
	}
	return http.StatusText(status)
}

// decodeResponse decodes an answer of the service with [strictjson.DecodeAnswer]: unknown
// fields are ignored (the service may grow its answers), duplicate keys and trailing data are not.
func decodeResponse(b []byte, v any) error {
	if err := strictjson.DecodeAnswer(b, v); err != nil {
		return fmt.Errorf("malformed response from the service: %v", err)
	}
	return nil
}

// Run uploads until ctx ends: every Interval, at once when kick receives (stage 1 kicks after
// each check-in: the device is online), and after a failure when its wait is over — the
// Retry-After of a 429 (which a kick does not cut short), or an exponential backoff with full
// jitter, capped at BackoffCap, after a network error or another answer (which a kick does).
func (u *Uploader) Run(ctx context.Context, kick <-chan struct{}) {
	after := u.After
	if after == nil {
		after = time.After
	}
	now := u.Now
	if now == nil {
		now = time.Now
	}
	interval := u.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	var failures int
	var retryAt time.Time // no attempt before this, while limited
	limited := false
	for {
		wait := interval
		if !retryAt.IsZero() {
			wait = max(retryAt.Sub(now()), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
			if limited && now().Before(retryAt) {
				continue
			}
		case <-after(wait):
		}
		n, err := u.Upload(ctx)
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			u.logf("uploaded %d error events", n)
		}
		var ra *RetryAfterError
		switch {
		case err == nil, errors.Is(err, ErrNoCertificate):
			failures, retryAt, limited = 0, time.Time{}, false
		case errors.As(err, &ra):
			failures, retryAt, limited = 0, now().Add(ra.Wait), true
			u.logf("%v", err)
		default:
			failures++
			retryAt, limited = now().Add(Backoff(failures, min(BackoffBase, interval))), false
			u.logf("%v; trying again at %s", err, retryAt.UTC().Format(time.RFC3339))
		}
	}
}

// Backoff is the wait after failures consecutive failed uploads (failures ≥ 1): a random time
// up to base·2^(failures−1), at most BackoffCap, and at least a tenth of base.
func Backoff(failures int, base time.Duration) time.Duration {
	ceil := BackoffCap
	if failures < 1 {
		failures = 1
	}
	if failures <= 20 {
		ceil = min(base<<(failures-1), BackoffCap)
	}
	return max(rand.N(ceil+1), base/10)
}
