// Package agent is stage 1 of the device runtime: it proves to the service what the device
// booted and keeps a current device certificate, then checks in over mutual TLS with it and
// runs the update cycle (DESIGN section 5, steps 3 to 5; the cycle is package
// [github.com/rampart-iot/rampart/device/update]).
//
// It starts from what stage 0 handed it ([NewIdentity] checks it): the device, the
// measurements, and CDI_Attest, from which it derives the Alias key again. That key never
// touches disk; since it depends only on the UDS and the measurements, a restart of the same
// runtime derives the same key, and the certificate in cert.pem remains good for it.
//
// # With a TPM
//
// A device whose root of trust is a TPM (package [github.com/rampart-iot/rampart/device/rot/tpm])
// gets no CDI: stage 1 opens the TPM, loads the attestation key (AK), checks that the PCR holds
// the event log that ends with the handed measurements, and makes a signing key for this start,
// certified by the AK and usable only while the PCR holds this runtime's measurement. It asks
// for a nonce with its EK certificate and AK, recovers the credential challenge's secret with
// TPM2_ActivateCredential, and sends evidence with the TPM claim (quote, event log, the signing
// key's certification) signed by that key, which is also the key of the device certificate and
// of mutual TLS. Every restart of stage 1 makes a new key, so it attests again.
//
// # The state machine
//
//	wake ──► ATTEST ──► CHECK IN ──► REPORT ──► UPDATE ──► SLEEP ──► wake
//
// Its phases:
//   - ATTEST (when [Decide] says so — no, another key's or an expiring certificate, 24 h,
//     forced — and its backoff is over): nonce → evidence → pass: cert.pem, status pass. A
//     failure records the reason in status.json and the event queue and waits a [Backoff]:
//     at the cap when the reason will not pass by retrying (rejected).
//   - CHECK IN (while the certificate is current): the update cycle's first request over
//     mutual TLS, a conditional one for the update info, whose answer also says who the service
//     takes the device for; it commits a runtime on trial. A 401 or 403 (the certificate
//     refused) makes attestation due; any failure waits.
//   - REPORT: the event uploader sends the queue, now that the device is online.
//   - UPDATE: the rest of the update cycle on the check-in's answer (nothing more when nothing
//     moved), the development capability, the apps; the next check-in is
//     due after about Options.CheckinInterval, or after a backoff if the cycle failed other
//     than by refusing an image.
//   - SLEEP until the earliest due time.
//
// The machine is data (phase and machine, machine.go): its transitions do no I/O and are
// tested one by one; the agent's steps do the I/O and hand the transitions their outcome —
// succeeded, retry later, rejected or failed. With Options.Once the machine runs one round and returns the
// first failure.
//
// # On trial
//
// A runtime that stage 0 boots from the pending slot of boot.json is on trial (DESIGN section
// 4; [state.Boot]). Its health check is the first round: an attestation that passes — the
// service knows its measurement, so its release is published — and a check-in. Then it
// commits: status.json records the result for the service, and boot.json makes its slot the
// active one. A trial that fails an attestation for a reason that will not pass by retrying,
// or that has not passed within Options.TrialTimeout, returns an error: stage 1 exits non-zero
// and stage 0 boots the old slot again.
//
// When an update cycle puts a runtime on trial, [Agent.Run] returns [ErrRestart]: stage 1 must
// exit with boot.ExitRestart so that stage 0 boots it.
//
// # Apps
//
// Run starts the app host (package [github.com/rampart-iot/rampart/device/apphost]) before its
// first round, so that installed apps run offline too, and syncs it after every update cycle;
// the update client tells it of updates first, and skips those that apps deferred; when a
// deferral ends (it runs out, or the app resumes the update) the agent checks in at once to
// install it rather than waiting for the next check-in. Before it
// compiles an image, the host has [update.VerifyApp] check package.hdr's signature (tenant keys
// from tenant-keys.pem, or developer keys while the device holds the development capability)
// and the module's SHA-256. Apps' crashes and exits go to the event queue. Unless
// it runs once, stage 1 serves the control socket (package
// [github.com/rampart-iot/rampart/device/control]) for `rampart-device app` and `sideload`.
//
// # Development
//
// At each check-in, after the update cycle (which stores the tenant keys), the agent asks for
// the development capability (api.DevicePathCapability): one the tenant keys sign for this
// device is stored in capability.json, a 404 deletes it. Stage 0 measures Debug mode while a
// valid one is present ([boot.Mode]); when holding one no longer matches the mode of this boot,
// [Agent.Run] returns [ErrModeChanged], stage 1 exits with boot.ExitRestart, and the restarted
// stage 1 — another Alias key — attests again.
//
// # Error reporting
//
// The agent queues error events (package [github.com/rampart-iot/rampart/device/events]):
// apps' crashes and exits, failed attestations and updates, and restarts of the runtime —
// planned (ErrRestart, ErrModeChanged) or not (the last run left its mark, state.FileRunning,
// behind). Stage 0 queues boot failures and rollbacks. An uploader sends the queue after each
// check-in and every Options.EventInterval while events wait, with its own backoff.
//
// # Talking to the service
//
// Only the CA in service-ca.pem is trusted, TLS 1.2 or later, with timeouts, keep-alive and
// TLS session resumption. Package [github.com/rampart-iot/rampart/device/transport] makes the client and reads
// response bodies up to its MaxResponse. Unknown JSON fields in
// answers are ignored (the service may grow them), but every value used is checked: the
// certificate must be for the Alias key, name the device and chain to the CA chain given.
package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/events"
	"github.com/rampart-iot/rampart/device/handoff"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/device/update"
)

// Options tune a run of the agent.
type Options struct {
	Once            bool          // one round, then return
	ForceAttest     bool          // attest in the first round whatever the certificate
	CheckinInterval time.Duration // mean time between check-ins; DefaultCheckinInterval if 0
	TrialTimeout    time.Duration // how long a runtime on trial may take to pass; DefaultTrialTimeout if 0
	EventInterval   time.Duration // how often to try to upload queued events; events.DefaultInterval if 0
	Log             *log.Logger   // progress; nil for none
	Now             func() time.Time
}

// DefaultTrialTimeout is how long a runtime on trial may take to pass its health check.
const DefaultTrialTimeout = 10 * time.Minute

// ErrRestart is returned by [Agent.Run] when an update has put a runtime on trial in the other
// slot: stage 1 must exit with boot.ExitRestart for stage 0 to boot it.
var ErrRestart = errors.New("a new runtime is pending: restarting to try it")

// Agent is a running stage 1.
type Agent struct {
	dir    state.Dir
	dev    state.Device
	id     *Identity
	opt    Options
	open   *http.Client // server-authenticated TLS: nonce and attestation
	mtls   *http.Client // mutual TLS with cert; nil without one
	roots  *x509.CertPool
	cert   *Certificate
	status state.Status
	trial  bool           // booted from the pending slot: commit after the health check
	apps   *apps          // the app host, while Run runs
	last   update.Checkin // what the last completed update cycle learnt (update.Client.Last)
	answer *update.Answer // the last check-in's, for the update cycle after it

	events   *events.Queue
	client   atomic.Pointer[http.Client] // mtls, for the event uploader's goroutine
	kick     chan struct{}               // a check-in worked: upload events
	notified chan api.DeviceNotice       // the service asks for a check-in (see notify.go)
	// capability is what the last check-in said of the development capability: its SHA-256,
	// "" for none, nil when the service did not say (see refreshCapability).
	capability *string
	reachable  atomic.Bool // the last check-in reached the service (apps' network readiness)

	windowOpens time.Time // an application update waits for the maintenance window, which opens then
}

// New checks the handoff h against the state folder and returns an agent for it. It zeroes
// h's CDIs: the agent keeps only the Alias key derived from them.
func New(dir state.Dir, h *handoff.Handoff, opt Options) (*Agent, error) {
	defer h.Zero()
	dev, err := dir.ReadDevice()
	if err != nil {
		return nil, err
	}
	var id *Identity
	if h.Root == state.RootTPM {
		id, err = newTPMIdentity(dir, h, dev, func(f string, a ...any) {
			if opt.Log != nil {
				opt.Log.Printf(f, a...)
			}
		})
	} else {
		id, err = NewIdentity(h, dev)
	}
	if err != nil {
		return nil, err
	}
	caPEM, err := dir.ReadServiceCA(dev)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("service CA %s holds no certificate", dir.Path(dev.ServiceCA))
	}
	if opt.CheckinInterval <= 0 {
		opt.CheckinInterval = DefaultCheckinInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = log.New(io.Discard, "", 0)
	}
	if opt.TrialTimeout <= 0 {
		opt.TrialTimeout = DefaultTrialTimeout
	}
	bc, err := dir.ReadBoot()
	if err != nil {
		return nil, err
	}
	q, err := events.OpenSealed(dir, id.storageKey, opt.Log.Printf)
	if err != nil {
		return nil, err
	}
	a := &Agent{dir: dir, dev: dev, id: id, opt: opt, open: transport.NewClient(roots, nil), roots: roots,
		trial: bc.Pending == id.Slot, events: q, kick: make(chan struct{}, 1),
		notified: make(chan api.DeviceNotice, 1)}
	if a.status, err = dir.ReadStatus(); err != nil {
		a.status = state.Status{}
		a.opt.Log.Printf("status.json is unreadable, starting afresh: %v", err)
	}
	return a, nil
}

// Close releases what the agent holds of the root of trust: the TPM's keys.
func (a *Agent) Close() error { return a.id.Close() }

// Identity returns who the agent is.
func (a *Agent) Identity() *Identity { return a.id }

func (a *Agent) now() time.Time { return a.opt.Now() }

// Run runs the state machine until ctx is done (then it returns nil) or, with Options.Once,
// for one round, returning what failed.
func (a *Agent) Run(ctx context.Context) error {
	defer a.markRunning()()
	a.status.Boot = &state.BootRecord{At: a.now().UTC(), Slot: a.id.Slot, Measurements: state.FromDice(a.id.Measurements)}
	a.saveStatus()
	a.loadCertificate()
	a.sealAtRest()
	apps, err := a.startApps(ctx)
	if err != nil {
		return fmt.Errorf("start the app host: %w", err)
	}
	defer apps.close()
	a.apps = apps
	if !a.opt.Once {
		ctx, cancel := context.WithCancel(ctx)
		defer a.startUploads(ctx)()
		defer a.startNotify(ctx)()
		defer cancel()
	}
	err = a.run(ctx)
	if errors.Is(err, ErrRestart) || errors.Is(err, ErrModeChanged) {
		if herr := a.handOver(); herr != nil {
			a.opt.Log.Printf("%v", herr)
		}
		a.plannedRestart(err)
	}
	return err
}

// run runs the state machine (see [phase]) until it stops.
func (a *Agent) run(ctx context.Context) error {
	m := &machine{once: a.opt.Once, slot: a.id.Slot, trial: a.trial, trialEnds: a.now().Add(a.opt.TrialTimeout),
		interval: a.opt.CheckinInterval, randN: randN, force: a.opt.ForceAttest}
	if a.trial {
		a.opt.Log.Printf("the runtime in slot %s is on trial: it commits once an attestation passes and a check-in works", a.id.Slot)
	}
	m.wake(a.facts(m))
	for m.phase != phaseStop {
		switch m.phase {
		case phaseAttest:
			a.stepAttest(ctx, m)
		case phaseCheckin:
			a.stepCheckin(ctx, m)
		case phaseReport:
			a.online(ctx)
			m.reported()
		case phaseUpdate:
			a.stepUpdate(ctx, m)
		case phaseSleep:
			a.sleep(ctx, m)
		}
	}
	return m.err
}

// facts reads what the transitions of m need at this time.
func (a *Agent) facts(m *machine) facts {
	now := a.now()
	d := a.decide(now, m.force)
	return facts{now: now, cert: a.currentCert(now), attestDue: d.Attest, attestWhen: d.Due}
}

// stepAttest is ATTEST: one attestation, its result recorded in status.json and, if it
// failed, in the event queue.
func (a *Agent) stepAttest(ctx context.Context, m *machine) {
	f := a.facts(m)
	why := a.decide(f.now, m.force).Why
	c, err := a.attest(ctx)
	if ctx.Err() != nil {
		m.stop(a.stopped(ctx))
		return
	}
	var ae *AttestError
	if err != nil && !errors.As(err, &ae) {
		err = fmt.Errorf("attestation failed: %w", err)
	}
	if err == nil {
		a.setCertificate(c)
		a.recordPass(f.now)
		a.opt.Log.Printf("attestation passed; certificate valid until %s (attested because: %s)", c.Leaf.NotAfter.UTC().Format(time.RFC3339), why)
	}
	after := a.facts(m)
	after.now = f.now // backoffs count from the attempt
	m.attested(after, classify(err), err)
	if err != nil {
		a.recordFailure(f.now, err, m.retryAt)
		a.attestFailed(err)
		if m.phase != phaseStop {
			a.opt.Log.Printf("%v (%s); next attempt at %s", err, why, m.retryAt.Format(time.RFC3339))
		}
	}
}

// stepCheckin is CHECK IN: a check-in, and the commit of a runtime on trial once it works.
func (a *Agent) stepCheckin(ctx context.Context, m *machine) {
	f := a.facts(m)
	w, err := a.checkin(ctx)
	if ctx.Err() != nil {
		m.stop(a.stopped(ctx))
		return
	}
	a.reachable.Store(err == nil)
	if err == nil {
		a.capability = capabilityDigest(w.CapabilitySHA256)
		a.opt.Log.Printf("checked in as %s (tenant %s)", w.DeviceID, clean(string(w.TenantID)))
		if a.trial {
			if cerr := a.commit(); cerr != nil {
				m.stop(cerr)
				return
			}
			m.committed()
		}
	}
	m.checkedIn(f, classify(err), err)
	if err != nil && m.phase != phaseStop {
		a.opt.Log.Printf("%v; next check-in at %s", err, m.checkinAt.Format(time.RFC3339))
	}
}

// capabilityDigest checks what a check-in said of the development capability: "" or 64 hex
// characters; anything else is taken as not said (the device then asks).
func capabilityDigest(d *string) *string {
	if d == nil || *d == "" {
		return d
	}
	if len(*d) != 64 || strings.Trim(*d, "0123456789abcdef") != "" {
		return nil
	}
	return d
}

// stepUpdate is UPDATE: an update cycle, then the development capability and the apps.
func (a *Agent) stepUpdate(ctx context.Context, m *machine) {
	f := a.facts(m)
	res, err := a.updateCycle(ctx)
	if ctx.Err() != nil {
		m.stop(a.stopped(ctx))
		return
	}
	for _, line := range append(res.Changed, res.Deferred...) {
		a.opt.Log.Printf("update: %s", line)
	}
	a.windowOpens = res.WindowOpens
	if res.Restart {
		m.stop(ErrRestart)
		return
	}
	if merr := a.refreshCapability(ctx); merr != nil {
		m.stop(merr)
		return
	}
	if ctx.Err() != nil {
		m.stop(a.stopped(ctx))
		return
	}
	a.apps.sync(ctx)
	if err != nil {
		a.updateFailed(err)
	}
	m.updated(f, classify(err), err)
	if err != nil && m.phase != phaseStop {
		a.opt.Log.Printf("%v; next check-in at %s", err, m.checkinAt.Format(time.RFC3339))
	}
}

// sleep is SLEEP: it waits until the machine's next due time, then wakes it; it stops the
// machine when ctx ends. An app's deferral of an update that ends before then (it runs out,
// or the app resumes the update) makes the update cycle due when it ends.
func (a *Agent) sleep(ctx context.Context, m *machine) {
	f := a.facts(m)
	wake, deferralEnds := m.wakeAt(f), false
	var resumed <-chan struct{}
	if a.apps != nil {
		resumed = a.apps.host.Resumed()
		if end := a.deferralEnd(f.now); !end.IsZero() && end.Before(wake) {
			wake, deferralEnds = end, true
		}
	}
	if w := a.windowOpens; !w.IsZero() && w.Before(wake) {
		wake, deferralEnds = w.Add(randN(time.Minute)), true // a group's devices spread over its first minute
		a.windowOpens = time.Time{}
	}
	t := time.NewTimer(max(wake.Sub(f.now), minWait))
	defer t.Stop()
	select {
	case <-ctx.Done():
		m.stop(nil)
	case <-t.C:
		if deferralEnds {
			m.updateDue(a.now())
		}
		m.wake(a.facts(m))
	case <-resumed:
		a.opt.Log.Printf("an app resumed a deferred update: checking in to install it")
		m.updateDue(a.now())
		m.wake(a.facts(m))
	case n := <-a.notified:
		a.opt.Log.Printf("the service asks for a check-in (%s)", clean(n.Reason))
		m.checkNow(a.now())
		m.wake(a.facts(m))
	}
}

// deferralEnd returns when the earliest deferral by apps of a pending update that still holds
// at now ends, or the zero time if none holds.
func (a *Agent) deferralEnd(now time.Time) time.Time {
	var end time.Time
	for _, kind := range []string{apphost.UpdateApplication, apphost.UpdateRuntime} {
		if until := a.apps.host.Deferred(kind); until.After(now) && (end.IsZero() || until.Before(end)) {
			end = until
		}
	}
	return end
}

func (a *Agent) stopped(ctx context.Context) error {
	if a.opt.Once {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return nil
}

func (a *Agent) decide(now time.Time, force bool) Decision {
	var leaf *x509.Certificate
	if a.cert != nil {
		leaf = a.cert.Leaf
	}
	var lastPass time.Time
	if a.status.Attestation != nil {
		lastPass = a.status.Attestation.LastPass
	}
	return Decide(now, leaf, a.id.AliasPublicKey(), lastPass, force)
}

// currentCert reports whether there is a certificate valid at now.
func (a *Agent) currentCert(now time.Time) bool {
	return a.cert != nil && !now.Before(a.cert.Leaf.NotBefore) && now.Before(a.cert.Leaf.NotAfter)
}

// loadCertificate takes up cert.pem if it is this boot's; a certificate of another Alias key,
// or one that does not chain, is left for the next attestation to replace.
func (a *Agent) loadCertificate() {
	b, err := a.dir.ReadCert()
	if errors.Is(err, state.ErrNoCertificate) {
		return
	}
	if err == nil {
		var c *Certificate
		if c, err = a.id.ParseCertificate(b, a.now()); err == nil {
			a.setCertificate(c)
			return
		}
	}
	a.opt.Log.Printf("cert.pem is not usable, attesting for a new one: %v", err)
}

// setCertificate makes c the device certificate, and the mutual-TLS client present it.
func (a *Agent) setCertificate(c *Certificate) {
	if a.mtls != nil {
		a.mtls.CloseIdleConnections()
	}
	a.cert = c
	a.mtls = transport.NewClient(a.roots, a.id.tlsCertificate(c))
	a.client.Store(a.mtls)
}

func (a *Agent) recordPass(now time.Time) {
	now = now.UTC()
	a.status.Attestation = &state.AttestationRecord{At: now, Result: api.AttestPass, LastPass: now}
	a.saveStatus()
}

func (a *Agent) recordFailure(now time.Time, err error, next time.Time) {
	rec := &state.AttestationRecord{At: now.UTC(), Result: state.ResultError, Message: clean(err.Error()), NextAttempt: next.UTC()}
	var ae *AttestError
	if errors.As(err, &ae) {
		rec.Result, rec.Reason, rec.Message = api.AttestFail, ae.Reason, ae.Message
	}
	if a.status.Attestation != nil {
		rec.LastPass = a.status.Attestation.LastPass
	}
	a.status.Attestation = rec
	a.saveStatus()
}

// saveStatus writes the agent's own fields of status.json: the update client and stage 0
// write others.
func (a *Agent) saveStatus() {
	err := a.dir.EditStatus(func(st *state.Status) {
		st.Boot, st.Attestation = a.status.Boot, a.status.Attestation
	})
	if err != nil {
		a.opt.Log.Printf("write status.json: %v", err)
	}
}
