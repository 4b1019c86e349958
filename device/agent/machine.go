package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/device/update"
)

// phase is a state of the agent's cycle (DESIGN section 5, steps 3 to 5):
//
//	wake ──► ATTEST ──► CHECK IN ──► REPORT ──► UPDATE ──► SLEEP ──► wake
//	            │  (attestation not due)▲ │                            ▲
//	            └───────────────────────┘ └── failure ─────────────────┘
//
// wake goes to ATTEST when attestation is due and its backoff is over, else to CHECK IN when
// the certificate is current and the check-in is due, else to SLEEP. A failed attestation still
// goes on to CHECK IN while the old certificate is current, so that a device whose renewal fails
// keeps receiving updates. REPORT uploads the queued events once the device is known to be
// online; UPDATE runs the update cycle, then asks for the development capability and syncs the
// apps. With Options.Once the machine makes one round and stops at SLEEP or at the first
// failure.
type phase int

const (
	phaseAttest  phase = iota // prove what the device booted; get a certificate
	phaseCheckin              // the conditional update-info request; commit a runtime on trial
	phaseReport               // upload the queued error events
	phaseUpdate               // update cycle, development capability, apps
	phaseSleep                // wait until the earliest due time
	phaseStop                 // Run returns machine.err
)

var phaseNames = [...]string{"attest", "check in", "report", "update", "sleep", "stop"}

func (p phase) String() string { return phaseNames[p] }

// outcome is how a step ended, as the transitions tell them apart.
type outcome int

const (
	succeeded  outcome = iota
	retryLater         // no answer, a 5xx or a 429, an attestation reason that may pass if tried again
	rejected           // the service refused: an attestation reason that will not pass, the certificate refused (401, 403), an image refused
	failed             // anything else: a failure on the device's side, an unexpected answer
)

var outcomeNames = [...]string{"succeeded", "retry later", "rejected", "failed"}

func (o outcome) String() string { return outcomeNames[o] }

// classify tells the outcome of a step from its error.
func classify(err error) outcome {
	var ae *AttestError
	switch {
	case err == nil:
		return succeeded
	case errors.As(err, &ae):
		if ae.Retryable() {
			return retryLater
		}
		return rejected
	case errors.Is(err, errCertRefused), errors.Is(err, update.ErrRefused):
		return rejected
	case errors.Is(err, transport.ErrRetryLater):
		return retryLater
	}
	return failed
}

// facts is what the transitions read of the world at one time.
type facts struct {
	now        time.Time
	cert       bool // there is a certificate valid at now
	attestDue  bool // [Decide] says attest, with the machine's force
	attestWhen time.Time
}

// machine is the agent's cycle as data: the phase it is in, and what its transitions need to
// remember between phases. Its methods are the transitions; they do no I/O, so each one is
// tested by itself.
type machine struct {
	phase     phase
	err       error // what Run returns, once phase is phaseStop
	once      bool
	slot      state.Slot
	trial     bool      // on trial: a rejected attestation, or a failure after trialEnds, stops
	trialEnds time.Time // when a trial that has not passed fails
	interval  time.Duration
	randN     func(time.Duration) time.Duration

	force           bool      // attest at the next wake, whatever the certificate
	attestFailures  int       // consecutive
	checkinFailures int       // consecutive
	updateFailures  int       // consecutive
	retryAt         time.Time // no attestation before
	checkinAt       time.Time // no check-in before
}

func (m *machine) stop(err error) { m.phase, m.err = phaseStop, err }

// wake picks the first phase of a round.
func (m *machine) wake(f facts) {
	if f.attestDue && !f.now.Before(m.retryAt) {
		m.phase = phaseAttest
		return
	}
	m.toCheckin(f)
}

// toCheckin checks in if the certificate is current and the check-in due; otherwise the
// round is over.
func (m *machine) toCheckin(f facts) {
	switch {
	case f.cert && !f.now.Before(m.checkinAt):
		m.phase = phaseCheckin
	case m.once && !f.cert:
		m.stop(errors.New("no current certificate after attestation"))
	case m.once:
		m.stop(nil)
	default:
		m.phase = phaseSleep
	}
}

// attested is the transition out of ATTEST. A failure waits for a backoff — at the cap when
// rejected — and on trial stops the machine when rejected or too late.
func (m *machine) attested(f facts, o outcome, err error) {
	if o == succeeded {
		m.attestFailures, m.force, m.retryAt, m.checkinAt = 0, false, time.Time{}, time.Time{}
		m.toCheckin(f)
		return
	}
	m.attestFailures++
	m.retryAt = f.now.Add(Backoff(m.attestFailures, o != rejected, m.randN))
	switch {
	case m.once:
		m.stop(err)
	case m.trial && (o == rejected || !f.now.Before(m.trialEnds)):
		m.stop(m.trialFailed(err))
	default:
		m.toCheckin(f)
	}
}

// checkedIn is the transition out of CHECK IN. A refused certificate makes attestation due;
// every failure waits for a backoff.
func (m *machine) checkedIn(f facts, o outcome, err error) {
	if o == succeeded {
		m.checkinFailures = 0
		m.checkinAt = f.now.Add(jitter(m.interval, m.randN))
		m.phase = phaseReport
		return
	}
	m.checkinFailures++
	if o == rejected {
		m.force = true
	}
	m.checkinAt = f.now.Add(Backoff(m.checkinFailures, true, m.randN))
	switch {
	case m.once:
		m.stop(err)
	case m.trial && !f.now.Before(m.trialEnds):
		m.stop(m.trialFailed(err))
	default:
		m.phase = phaseSleep
	}
}

// committed records that the runtime on trial passed its health check.
func (m *machine) committed() { m.trial = false }

// reported is the transition out of REPORT: reporting never holds the cycle back.
func (m *machine) reported() { m.phase = phaseUpdate }

// updated is the transition out of UPDATE. A failure other than a refused image checks in
// again after a backoff; a refused image waits for the next check-in, when the service may
// offer something else.
func (m *machine) updated(f facts, o outcome, err error) {
	if m.once {
		m.stop(err)
		return
	}
	m.phase = phaseSleep
	if o == succeeded {
		m.updateFailures = 0
		return
	}
	m.updateFailures++
	if o != rejected {
		m.checkinAt = f.now.Add(Backoff(m.updateFailures, true, m.randN))
	}
}

// checkNow makes the check-in due at now because the service asked for one over the
// notification channel: unlike updateDue it cuts short the backoff of earlier failures too,
// since the service has just shown that it is reachable and wants the device (a failure of a
// moment ago, such as metadata that moved during the last cycle, is then tried again at once).
func (m *machine) checkNow(now time.Time) {
	if m.checkinAt.After(now) {
		m.checkinAt = now
	}
}

// updateDue makes the check-in, and the update cycle after it, due at now: an app ended its
// deferral of an update early, or a deferral ran out, so the update should go ahead now rather
// than at the next check-in. A check-in waiting out a backoff after failures keeps waiting.
func (m *machine) updateDue(now time.Time) {
	if m.checkinFailures == 0 && m.updateFailures == 0 && m.checkinAt.After(now) {
		m.checkinAt = now
	}
}

// wakeAt is when SLEEP ends: when attestation falls due (attestDue, the earliest
// [Decision].Due) but not before its backoff, or the check-in, if the certificate is current and
// that comes first.
func (m *machine) wakeAt(f facts) time.Time {
	next := f.attestWhen
	if next.Before(m.retryAt) {
		next = m.retryAt
	}
	if f.cert && m.checkinAt.Before(next) {
		next = m.checkinAt
	}
	return next
}

func (m *machine) trialFailed(err error) error {
	return fmt.Errorf("the runtime on trial in slot %s failed its health check: %w", m.slot, err)
}
