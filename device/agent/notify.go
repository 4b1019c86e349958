package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
)

// The notification channel (api.DevicePathNotify): while stage 1 runs, it keeps a stream open to
// the service over mutual TLS, on which the service says when to check in now — a new deployment
// for the device's group, or `rampart device-group notify` — so that an online device learns of
// it in seconds instead of at its check-in interval. Nothing depends on it: the device checks in
// on its interval whatever happens to the channel, and what a notice says is only "check in",
// so a forged or replayed one costs a check-in.

// notifyIdle is how long the stream may stay silent before the device takes it for dead: two
// keep-alives and a margin.
const notifyIdle = 2*api.NotifyKeepAlive + 15*time.Second

// notifyGone is how long the device waits before it asks again a service that has no
// notification channel (404: one older than the channel).
const notifyGone = time.Hour

// startNotify runs the notification channel until ctx ends; the returned function waits for it.
func (a *Agent) startNotify(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.listen(ctx)
	}()
	return func() { <-done }
}

// listen keeps the notification channel open while the device has a certificate: it opens it
// again at once when the service ends a stream, and after a backoff when it fails.
func (a *Agent) listen(ctx context.Context) {
	failures, up := 0, false
	defer func() {
		if up {
			a.recordNotify(false, errors.New("the runtime stopped"))
		}
	}()
	for ctx.Err() == nil {
		hc := a.client.Load()
		if hc == nil { // no certificate yet
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		opened, err := a.stream(ctx, hc, func() {
			if !up {
				up = true
				a.opt.Log.Printf("notification channel open: the service can ask for a check-in at any time")
				a.recordNotify(true, nil)
			}
		})
		if ctx.Err() != nil {
			return
		}
		if opened {
			failures = 0
		}
		if err == nil {
			continue
		}
		failures++
		if up || failures == 1 {
			a.opt.Log.Printf("notification channel closed (%v): checking in on the interval until it is back", err)
			a.recordNotify(false, err)
		}
		up = false
		wait := Backoff(failures, true, randN)
		var te *transport.Error
		if errors.As(err, &te) && te.Status == http.StatusNotFound {
			wait = notifyGone
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// recordNotify writes the channel's state to notify.json, for `rampart-device status`.
func (a *Agent) recordNotify(open bool, err error) {
	n := state.Notify{At: a.now().UTC(), Open: open}
	if err != nil {
		n.Error = err.Error()
	}
	if werr := a.dir.WriteNotify(n); werr != nil {
		a.opt.Log.Printf("%v", werr)
	}
}

// stream reads one notification stream until it ends: nil when the service ended it, an error
// when it could not be opened, broke or went silent. opened says whether the service answered;
// onOpen is called when it does.
func (a *Agent) stream(ctx context.Context, hc *http.Client, onOpen func()) (opened bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.dev.ServiceURL+api.DevicePathNotify, nil)
	if err != nil {
		return false, err
	}
	// The same connections as every other request, without the client's overall timeout: the
	// stream lasts minutes. Silence is caught below instead.
	c := &http.Client{Transport: hc.Transport, CheckRedirect: hc.CheckRedirect}
	watchdog := time.AfterFunc(notifyIdle, cancel)
	defer watchdog.Stop()
	resp, err := c.Do(req)
	if err != nil {
		return false, fmt.Errorf("open the notification channel: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, transport.MaxResponse))
		return false, fmt.Errorf("open the notification channel: %w", transport.Refusal(transport.Response{Status: resp.StatusCode, Body: b}))
	}
	onOpen()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, api.MaxNoticeLine), api.MaxNoticeLine)
	for sc.Scan() {
		watchdog.Reset(notifyIdle)
		n, err := parseNotice(sc.Bytes())
		if err != nil {
			return true, err
		}
		if n.Reason != api.NoticeKeepAlive {
			a.notice(n)
		}
	}
	if ctx.Err() != nil {
		return true, errors.New("the notification channel went silent")
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("read the notification channel: %w", err)
	}
	return true, nil
}

// parseNotice decodes one line of the notification stream: one JSON object and nothing after
// it. As in every answer of the service, fields the device does not know are ignored, so that
// the service may grow them (see [transport.Decode]).
func parseNotice(line []byte) (api.DeviceNotice, error) {
	var n api.DeviceNotice
	d := json.NewDecoder(bytes.NewReader(line))
	if err := d.Decode(&n); err != nil || d.More() {
		return n, fmt.Errorf("the notification channel sent a malformed line")
	}
	switch {
	case n.Reason == "" || len(n.Reason) > 32:
		return n, fmt.Errorf("the notification channel sent a notice without a reason")
	case n.DelayMS < 0 || n.DelayMS > api.MaxNoticeDelay.Milliseconds(): // compared in ms: no overflow
		return n, fmt.Errorf("the notification channel sent a delay of %d ms", n.DelayMS)
	}
	return n, nil
}

// notice passes n to the state machine after its delay (see [Agent.sleep]). A notice that
// arrives while one is pending is the same news.
func (a *Agent) notice(n api.DeviceNotice) {
	time.AfterFunc(time.Duration(n.DelayMS)*time.Millisecond, func() {
		select {
		case a.notified <- n:
		default:
		}
	})
}

// sleepCtx waits for d or until ctx ends, and reports whether d passed.
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
