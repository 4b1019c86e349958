package agent

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
)

// Push. While the agent runs (not with Options.Once) and holds a certificate, a goroutine
// keeps a long poll open on api.DevicePathNotify. When the service answers that the device
// should check in, the agent waits a random delay of up to Options.NotifyJitter, so that a
// large group does not arrive at once, and checks in then instead of at its next interval. A
// notification only brings a check-in forward: one that is lost, forged or replayed does no
// harm, since what the check-in installs is decided by the signed TUF metadata alone. While the
// long poll fails (the service is out of reach, or older than push), it is tried again after a
// backoff, and the device still checks in on its interval.
//
// The first request learns the group's notification sequence. It is sent as soon as the
// device has a certificate, so before the check-in that follows: a notification after that
// check-in's answer is one past the sequence learnt, and brings the next check-in.

// DefaultNotifyJitter bounds the random delay before a check-in that the service asked for.
const DefaultNotifyJitter = 5 * time.Second

// Backoff of the long poll after a failure: from notifyRetryMin, doubling, to notifyRetryMax.
const (
	notifyRetryMin = 2 * time.Second
	notifyRetryMax = 5 * time.Minute
	notifyMinPoll  = time.Second
)

// startNotify starts the long poll; the returned function waits for it to end with ctx.
func (a *Agent) startNotify(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.notifyLoop(ctx)
	}()
	return func() { <-done }
}

// notifyLoop keeps the long poll open until ctx ends, and passes each request to check in on
// to a.notified.
func (a *Agent) notifyLoop(ctx context.Context) {
	seq := int64(-1) // none seen yet: the first answer only tells the sequence
	retry := notifyRetryMin
	for ctx.Err() == nil {
		c := a.client.Load()
		if c == nil { // no certificate yet
			select {
			case <-ctx.Done():
			case <-a.certified:
			}
			continue
		}
		asked := time.Now()
		n, err := a.poll(ctx, c, seq)
		if err != nil {
			if ctx.Err() == nil {
				a.opt.Log.Printf("push: %v; trying again in about %s", err, retry)
			}
			sleepCtx(ctx, retry/2+randN(retry))
			retry = min(2*retry, notifyRetryMax)
			continue
		}
		retry = notifyRetryMin
		if !n.CheckIn && seq >= 0 && time.Since(asked) < notifyMinPoll {
			sleepCtx(ctx, notifyMinPoll) // a service that does not hold the request is not asked in a loop
		}
		if n.CheckIn && seq >= 0 {
			d := time.Duration(0)
			if a.opt.NotifyJitter > 0 {
				d = randN(a.opt.NotifyJitter)
			}
			a.opt.Log.Printf("the service asks for a check-in: checking in in %s", d.Round(time.Millisecond))
			if !sleepCtx(ctx, d) {
				return
			}
			select {
			case a.notified <- struct{}{}:
			default:
			}
		}
		seq = n.Seq
	}
}

// poll makes one long-poll request, after seq if it is not negative.
func (a *Agent) poll(ctx context.Context, c *http.Client, seq int64) (api.Notification, error) {
	var n api.Notification
	path := api.DevicePathNotify
	if seq >= 0 {
		path += "?seq=" + strconv.FormatInt(seq, 10)
	}
	r, err := transport.Request(ctx, c, a.dev.ServiceURL, http.MethodGet, path, "", nil)
	if err != nil {
		return n, err
	}
	if r.Status != http.StatusOK {
		return n, transport.Refusal(r)
	}
	if err := transport.Decode(r.Body, &n); err != nil {
		return n, fmt.Errorf("notification: %w", err)
	}
	if n.Seq < 0 {
		return n, fmt.Errorf("notification: sequence %d", n.Seq)
	}
	return n, nil
}

// sleepCtx waits d, and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
