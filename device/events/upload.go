package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
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
)

// ErrNoCertificate is returned by [Uploader.Upload] while the device has no certificate to
// speak mutual TLS with.
var ErrNoCertificate = errors.New("upload events: no device certificate yet")

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
// Crash detail goes out only if the service's last answer allowed crash dumps. A failure is a
// [transport.Error] (a 429's wait in its RetryAfter), or an error of the queue.
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
		r, err := u.post(ctx, c, b)
		if err != nil {
			return sent, fmt.Errorf("upload events: %w", err)
		}
		switch r.Status {
		case http.StatusOK:
			if err := u.accepted(b, r); err != nil {
				return sent, fmt.Errorf("upload events: %w", err)
			}
			sent += len(b.events)
			limit = u.batchSize()
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if len(b.events) == 0 {
				return sent, fmt.Errorf("upload events: %w", transport.Refusal(r))
			}
			if limit, err = u.refused(b, transport.Refusal(r), limit); err != nil {
				return sent, fmt.Errorf("upload events: %w", err)
			}
		default:
			return sent, fmt.Errorf("upload events: %w", transport.Refusal(r))
		}
	}
}

// accepted takes a batch that the service answered 200 off the queue.
func (u *Uploader) accepted(b batch, r transport.Response) error {
	var ar api.EventBatchResponse
	if err := transport.Decode(r.Body, &ar); err != nil {
		return err
	}
	return u.Queue.ack(b, ar.AllowCrashDumps)
}

// refused finds the event of b that the service refused with e, a 400 or a 413: the one the
// message names, or the only one of the batch, is dropped; otherwise the next batch is half
// as large. It returns the size limit of the next batch.
func (u *Uploader) refused(b batch, e *transport.Error, limit int) (int, error) {
	i, ok := badIndex(e.Message)
	if !ok || i >= len(b.events) {
		if len(b.events) > 1 {
			return len(b.events) / 2, nil
		}
		i = 0
	}
	u.logf("the service refused event %s (%s): dropping it: %s", b.events[i].ID, b.events[i].Category, e.Message)
	if err := u.Queue.drop(b.events[i].ID); err != nil {
		return 0, err
	}
	return limit, nil
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

// post sends one batch.
func (u *Uploader) post(ctx context.Context, c *http.Client, b batch) (transport.Response, error) {
	events := b.events
	if events == nil {
		events = []api.DeviceEvent{}
	}
	body, err := json.Marshal(api.EventBatch{Events: events, Dropped: min(b.dropped, api.MaxEventsDropped)})
	if err != nil {
		return transport.Response{}, err
	}
	return transport.Request(ctx, c, u.ServiceURL, http.MethodPost, api.DevicePathEvents, "application/json", body)
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
		var te *transport.Error
		switch {
		case err == nil, errors.Is(err, ErrNoCertificate):
			failures, retryAt, limited = 0, time.Time{}, false
		case errors.As(err, &te) && te.RetryAfter > 0:
			failures, retryAt, limited = 0, now().Add(te.RetryAfter), true
			u.logf("%v; the service is rate-limiting this device: trying again in %s", err, te.RetryAfter)
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
