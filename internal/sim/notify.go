package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/api"
)

// OpNotify is a device's notification channel opened (rate: channels a second; latency: until
// its first line). The channels are then held open, idle, for the run's duration.
const OpNotify = "notify"

// DefaultNotifyHold is how long the notify scenario holds the channels without a duration.
const DefaultNotifyHold = 10 * time.Second

// notifyAll opens every device's notification channel, each on a connection of its own as a
// device keeps it, at most Concurrency opening at once, and holds them all open until the run's
// duration is spent: the idle load of a fleet that listens for pushes.
func (r *runner) notifyAll(ctx context.Context) error {
	hold := r.cfg.Duration
	if hold <= 0 {
		hold = DefaultNotifyHold
	}
	st := r.newStats(OpNotify)
	stop := r.progress(st, len(r.devices))
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, hold)
	defer cancel()
	opening := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, d := range r.devices {
		cert := d.certificate()
		if cert == nil {
			st.observe(0, errNoCertificate)
			continue
		}
		wg.Go(func() {
			opening <- struct{}{}
			start := time.Now()
			body, err := r.openNotify(ctx, st, d, cert)
			<-opening
			if err != nil {
				if ctx.Err() == nil {
					st.observe(time.Since(start), err)
				}
				return
			}
			st.observe(time.Since(start), nil)
			defer body.Close()
			io.Copy(io.Discard, body) // until the hold ends, or the service ends the stream
		})
	}
	wg.Wait()
	st.done()
	return nil
}

// openNotify opens d's notification channel and reads its first line (a keep-alive).
func (r *runner) openNotify(ctx context.Context, st *Stats, d *Device, cert *tls.Certificate) (io.ReadCloser, error) {
	hc := r.newClient(d, cert)
	hc.Timeout = 0 // the stream lasts the run
	st.addRequests(1)
	req, err := http.NewRequestWithContext(withTrace(ctx, st), http.MethodGet, r.fleet.server+api.DevicePathNotify, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d", errNotifyRefused, resp.StatusCode)
	}
	br := bufio.NewReader(io.LimitReader(resp.Body, 1<<20))
	if _, err := br.ReadSlice('\n'); err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("read the first line: %w", err)
	}
	return resp.Body, nil
}

var errNotifyRefused = errors.New("notification channel refused")
