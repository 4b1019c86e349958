// Package sim simulates a fleet of devices in one process against a real Rampart service, for
// sizing a deployment and for the benchmarks in bench/.
//
// Each simulated device has an identity of its own, made as the software root of trust makes it
// (package rot): a UDS derived from the fleet's seed and the device's index, the DeviceID key and
// claim code from the UDS, and the Alias key and certificate from CDI_Attest over the measured
// runtime. The same seed gives the same fleet, so a second run finds the devices the first one
// claimed. Identities are derived lazily and in parallel: a device ID costs one P-256 key
// derivation (about 0.1 ms of CPU), an attestation adds the Alias key and the Alias certificate
// (about 0.2 ms).
//
// The devices speak the device protocol through package transport, as device/agent and
// device/update speak it: nonce and evidence, the update info, TUF metadata, update
// reports, image downloads and error events, over real mutual TLS with the certificate the
// service issued. The administrator's side (claims, the product, the runtime release, the app
// image and its deployment) goes through package client.
//
// # Scenarios
//
//   - claim: claim every device of the fleet that its tenant does not have yet, with its claim
//     code, in batches, and put it in the Field Test group of the product rampart-sim;
//   - attest: a nonce and an attestation per device;
//   - checkin: a check-in per device over a kept-alive mutual-TLS connection (a device's first
//     check-in of the run, which fetches every TUF file, is counted apart as first-checkin);
//   - events: an upload of one error event per device;
//   - download: a download of the group's app image;
//   - storm: after a first check-in, a check-in per device over a new mutual-TLS connection each
//     time, resuming the device's TLS session when the service allows it;
//   - all: each of these in turn;
//   - notify: every device's notification channel opened, each on a connection of its own, and
//     all held open, idle, for the duration (default [DefaultNotifyHold]); not part of all.
//
// Every scenario first claims what is missing and attests the devices that hold no certificate.
// Without a duration a scenario makes one pass over the fleet (downloads: at most
// [MaxDownloadPass] devices); with one it cycles over the fleet until the duration is spent.
package sim

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-iot/rampart/client"
)

// The operations of the summary.
const (
	OpDeriveID = "derive-id" // the DeviceID key and claim code, in the simulator
	OpClaim    = "claim"     // one claim request of a batch (rate: devices a second)
	OpAssign   = "assign"    // putting one device in the group
	OpAttest   = "attest"    // nonce and attestation, over a new connection
	OpCheckin  = "checkin"   // update info, TUF refresh when it moved (kept-alive connection)
	// OpFirstCheckin is a device's first check-in of the run, which fetches every TUF file.
	OpFirstCheckin = "first-checkin"
	OpEvents       = "events"   // one error event uploaded
	OpDownload     = "download" // the app image downloaded
	OpStorm        = "storm"    // a check-in over a new connection
)

// Scenarios lists the values of Config.Scenario.
var Scenarios = []string{"claim", "attest", "checkin", "events", "download", "storm", "all", "notify"}

// MaxDownloadPass bounds the devices of a download pass without a duration.
const MaxDownloadPass = 256

// Config is what a run simulates.
type Config struct {
	Server      string // https://HOST:PORT
	Token       string // an Administrator's API token of the tenant that claims the fleet
	CAPEM       []byte // the service's CA
	Devices     int
	Concurrency int
	Duration    time.Duration // 0: one pass per scenario
	Scenario    string
	Seed        []byte // from [Seed]
	// Runtime is the runtime image the devices measure; nil for a stand-in that the simulator
	// publishes (as RuntimeVersion in RetailEval) if no release has it.
	Runtime []byte
	// ImageSize is the payload size of the app image deployed to the group; 0 for none (no
	// download scenario).
	ImageSize int64
	// ClaimBatch is the number of devices a claim request carries.
	ClaimBatch int
	// MaxOpen bounds the kept-alive connections of check-ins; the least recently used is closed.
	MaxOpen int
	// Spread makes each device connect from an address of its own in 127.0.0.0/8; it needs a
	// service on a loopback address. Auto (the default) spreads when the service's host is one.
	Spread Spread
	// Progress, if not nil, receives a line of progress every half second.
	Progress io.Writer
	// Timed, if not nil, is called as an operation that runs for Duration starts, with its
	// name (one of the Op… constants): a caller can watch the service while it is under load.
	Timed func(op string)
}

// Spread says whether devices connect from addresses of their own.
type Spread int

// The values of Spread.
const (
	SpreadAuto Spread = iota
	SpreadOn
	SpreadOff
)

type runner struct {
	cfg     Config
	fleet   *fleet
	roots   *x509.CertPool
	spread  bool
	devices []*Device
	targets sync.Map // repository@version → map[string]*metadata.TargetFiles
	open    *openClients
	stats   []*Stats
}

// Run simulates the fleet and returns what it measured. It fails only when the run could not
// start (a bad setting, a service out of reach, the fleet's objects not made); failed
// operations are counted in the summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	sum := Summary{Server: cfg.Server, Devices: cfg.Devices, Concurrency: cfg.Concurrency, Scenario: cfg.Scenario}
	phases, err := phasesOf(cfg.Scenario)
	if err != nil {
		return sum, err
	}
	if cfg.Devices < 1 || cfg.Concurrency < 1 {
		return sum, errors.New("devices and concurrency must be at least 1")
	}
	if cfg.ClaimBatch < 1 || cfg.ClaimBatch > 1000 {
		cfg.ClaimBatch = 100
	}
	if cfg.MaxOpen < 1 {
		cfg.MaxOpen = 1000
	}
	r := &runner{cfg: cfg, roots: x509.NewCertPool(), open: &openClients{max: cfg.MaxOpen}}
	if !r.roots.AppendCertsFromPEM(cfg.CAPEM) {
		return sum, errors.New("the service CA holds no certificate")
	}
	if r.spread, err = spreadFor(cfg); err != nil {
		return sum, err
	}
	admin, err := client.New(cfg.Server, cfg.Token, cfg.CAPEM)
	if err != nil {
		return sum, err
	}
	if r.fleet, err = prepare(ctx, cfg, admin); err != nil {
		return sum, err
	}
	defer r.open.closeAll()
	r.devices = make([]*Device, cfg.Devices)
	for i := range r.devices {
		r.devices[i] = newDevice(cfg.Seed, i)
	}
	for _, p := range phases {
		if err := ctx.Err(); err != nil {
			break
		}
		if err := p(r, ctx); err != nil {
			return sum, err
		}
	}
	for _, st := range r.stats {
		sum.Operations = append(sum.Operations, st.row())
	}
	return sum, nil
}

func spreadFor(cfg Config) (bool, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return false, fmt.Errorf("invalid server %q: want https://HOST:PORT", cfg.Server)
	}
	host := u.Hostname()
	loop := host == "localhost"
	if ip := net.ParseIP(host); ip != nil {
		loop = ip.IsLoopback() && ip.To4() != nil
	}
	switch cfg.Spread {
	case SpreadOn:
		if !loop {
			return false, errors.New("devices can connect from addresses of their own only to a service on a loopback address")
		}
		return true, nil
	case SpreadOff:
		return false, nil
	}
	return loop, nil
}

type phase func(*runner, context.Context) error

func phasesOf(scenario string) ([]phase, error) {
	base := []phase{(*runner).claimAll, (*runner).attestMissing}
	switch scenario {
	case "claim":
		return base[:1], nil
	case "attest":
		return []phase{(*runner).claimAll, (*runner).attestAll}, nil
	case "checkin":
		return append(base, (*runner).checkinAll), nil
	case "events":
		return append(base, (*runner).eventsAll), nil
	case "download":
		return append(base, (*runner).downloadAll), nil
	case "storm":
		return append(base, (*runner).stormAll), nil
	case "notify":
		return append(base, (*runner).notifyAll), nil
	case "all":
		return []phase{(*runner).claimAll, (*runner).attestAll, (*runner).checkinAll, (*runner).eventsAll,
			(*runner).downloadAll, (*runner).stormAll}, nil
	}
	return nil, fmt.Errorf("unknown scenario %q: want one of claim, attest, checkin, events, download, storm, all or notify", scenario)
}

func (r *runner) newStats(name string) *Stats {
	st := newStats(name)
	r.stats = append(r.stats, st)
	return st
}

// each runs op on devs with the configured concurrency: one pass, or, when cycle is set and
// the run has a duration, passes until it is spent. It shows progress as it goes.
func (r *runner) each(ctx context.Context, st *Stats, devs []*Device, cycle bool, workers int, op func(context.Context, *Device) error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cycle && r.cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Duration)
		defer cancel()
		if r.cfg.Timed != nil {
			r.cfg.Timed(st.name)
		}
	}
	stop := r.progress(st, len(devs))
	defer stop()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(devs)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(devs) && !(cycle && r.cfg.Duration > 0) {
					return
				}
				d := devs[i%len(devs)]
				start := time.Now()
				err := op(ctx, d)
				if err != nil && ctx.Err() != nil {
					return // cut short by the end of the run: not the service's failure
				}
				st.observe(time.Since(start), err)
			}
		})
	}
	wg.Wait()
	st.done()
}

// progress shows, every half second, how far st has come, until the returned func is called.
func (r *runner) progress(st *Stats, total int) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		start := time.Now()
		show := func(end string) {
			ok, failed := st.count()
			secs := time.Since(start).Seconds()
			fmt.Fprintf(r.cfg.Progress, "\r%-9s %d/%d  %.0f/s  %d errors  %.0f s   %s", st.name, ok+failed, total,
				float64(ok)/max(secs, 0.001), failed, secs, end)
		}
		for {
			select {
			case <-done:
				show("\n")
				return
			case <-t.C:
				show("")
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// claimAll derives the device IDs (in parallel, on every core), finds which devices the tenant
// has, claims the others in batches straight into the group, and moves into the group the
// devices the tenant has in another.
func (r *runner) claimAll(ctx context.Context) error {
	derive := r.newStats(OpDeriveID)
	r.each(ctx, derive, r.devices, false, runtime.GOMAXPROCS(0), func(_ context.Context, d *Device) error {
		return d.ensureID()
	})
	known, err := r.fleet.known(ctx, r.devices, min(r.cfg.Concurrency, 16))
	if err != nil {
		return err
	}
	var claim, assign []*Device
	for _, d := range r.devices {
		if g, ok := known[d.ID()]; !ok {
			claim = append(claim, d)
		} else if g != r.fleet.group {
			assign = append(assign, d)
		}
	}
	if len(claim) > 0 {
		var batches []*Device // the first device of each batch
		for i := 0; i < len(claim); i += r.cfg.ClaimBatch {
			batches = append(batches, claim[i])
		}
		at := make(map[*Device]int, len(batches))
		for i := 0; i < len(claim); i += r.cfg.ClaimBatch {
			at[claim[i]] = i
		}
		st := r.newStats(OpClaim)
		r.each(ctx, st, batches, false, min(r.cfg.Concurrency, 4), func(ctx context.Context, first *Device) error {
			i := at[first]
			batch := claim[i:min(i+r.cfg.ClaimBatch, len(claim))]
			err := r.fleet.claim(ctx, batch)
			if err == nil {
				st.addUnits(int64(len(batch)))
			}
			return err
		})
	}
	if len(assign) > 0 {
		st := r.newStats(OpAssign)
		r.each(ctx, st, assign, false, r.cfg.Concurrency, r.fleet.assign)
	}
	return nil
}

func (r *runner) attestMissing(ctx context.Context) error {
	var missing []*Device
	for _, d := range r.devices {
		if d.certificate() == nil {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		st := r.newStats(OpAttest)
		r.each(ctx, st, missing, false, r.cfg.Concurrency, func(ctx context.Context, d *Device) error { return r.attest(ctx, st, d) })
	}
	return nil
}

func (r *runner) attestAll(ctx context.Context) error {
	st := r.newStats(OpAttest)
	r.each(ctx, st, r.devices, true, r.cfg.Concurrency, func(ctx context.Context, d *Device) error { return r.attest(ctx, st, d) })
	return nil
}

// withCert runs op with the device's kept-alive mutual-TLS client.
func (r *runner) withCert(op func(context.Context, *Device, *http.Client) error) func(context.Context, *Device) error {
	return func(ctx context.Context, d *Device) error {
		cert := d.certificate()
		if cert == nil {
			return errNoCertificate
		}
		return op(ctx, d, r.open.get(d, func() *http.Client { return r.newClient(d, cert) }))
	}
}

// errNoCertificate is a device that did not pass attestation: it cannot check in.
var errNoCertificate = errors.New("the device has no certificate: its attestation failed")

// firstCheckins checks in, once, the devices that have not checked in during this run: a first
// check-in fetches every TUF metadata file, so it is counted apart from the up-to-date ones.
func (r *runner) firstCheckins(ctx context.Context) {
	var fresh []*Device
	for _, d := range r.devices {
		d.mu.Lock()
		if d.tuf == nil && d.cert != nil {
			fresh = append(fresh, d)
		}
		d.mu.Unlock()
	}
	if len(fresh) == 0 {
		return
	}
	st := r.newStats(OpFirstCheckin)
	r.each(ctx, st, fresh, false, r.cfg.Concurrency, r.withCert(func(ctx context.Context, d *Device, hc *http.Client) error {
		return r.checkin(ctx, st, d, hc)
	}))
}

func (r *runner) checkinAll(ctx context.Context) error {
	r.firstCheckins(ctx)
	st := r.newStats(OpCheckin)
	r.each(ctx, st, r.devices, true, r.cfg.Concurrency, r.withCert(func(ctx context.Context, d *Device, hc *http.Client) error {
		return r.checkin(ctx, st, d, hc)
	}))
	return nil
}

func (r *runner) eventsAll(ctx context.Context) error {
	st := r.newStats(OpEvents)
	r.each(ctx, st, r.devices, true, r.cfg.Concurrency, r.withCert(func(ctx context.Context, d *Device, hc *http.Client) error {
		return r.events(ctx, st, d, hc)
	}))
	return nil
}

func (r *runner) downloadAll(ctx context.Context) error {
	if r.fleet.image.ID == "" {
		return errors.New("the download scenario needs an app image: give an image size")
	}
	devs := r.devices
	if r.cfg.Duration == 0 && len(devs) > MaxDownloadPass {
		devs = devs[:MaxDownloadPass]
	}
	st := r.newStats(OpDownload)
	r.each(ctx, st, devs, true, r.cfg.Concurrency, r.withCert(func(ctx context.Context, d *Device, hc *http.Client) error {
		d.mu.Lock()
		fresh := d.tuf == nil
		d.mu.Unlock()
		if fresh { // a device learns its targets at a check-in
			if err := r.checkin(ctx, newStats(OpCheckin), d, hc); err != nil {
				return err
			}
		}
		return r.download(ctx, st, d, hc)
	}))
	return nil
}

func (r *runner) stormAll(ctx context.Context) error {
	r.firstCheckins(ctx)
	st := r.newStats(OpStorm)
	r.each(ctx, st, r.devices, true, r.cfg.Concurrency, func(ctx context.Context, d *Device) error {
		cert := d.certificate()
		if cert == nil {
			return errNoCertificate
		}
		r.open.drop(d)
		hc := r.newClient(d, cert)
		defer hc.CloseIdleConnections()
		return r.checkin(ctx, st, d, hc)
	})
	return nil
}

// openClients keeps the kept-alive clients of at most max devices; the least recently used is
// closed when another is needed.
type openClients struct {
	mu      sync.Mutex
	max     int
	clients map[*Device]*http.Client
	order   []*Device // oldest first
}

func (o *openClients) get(d *Device, make func() *http.Client) *http.Client {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.clients == nil {
		o.clients = map[*Device]*http.Client{}
	}
	if hc, ok := o.clients[d]; ok {
		return hc
	}
	for len(o.clients) >= o.max && len(o.order) > 0 {
		old := o.order[0]
		o.order = o.order[1:]
		if hc, ok := o.clients[old]; ok {
			hc.CloseIdleConnections()
			delete(o.clients, old)
		}
	}
	hc := make()
	o.clients[d] = hc
	o.order = append(o.order, d)
	return hc
}

func (o *openClients) drop(d *Device) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if hc, ok := o.clients[d]; ok {
		hc.CloseIdleConnections()
		delete(o.clients, d)
	}
}

func (o *openClients) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, hc := range o.clients {
		hc.CloseIdleConnections()
	}
	o.clients = nil
}

// Device returns device i of the fleet that seed names, for tests and tools.
func DeviceOf(seed []byte, i int) *Device { return newDevice(seed, i) }
