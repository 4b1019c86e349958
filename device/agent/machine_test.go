package agent

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/device/update"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// maxRand makes every random wait its longest, so that the waits the tests expect are exact.
func maxRand(n time.Duration) time.Duration { return n - 1 }

// newMachine is a machine in phase p, running (not once, not on trial).
func newMachine(p phase) *machine {
	return &machine{phase: p, slot: "a", interval: DefaultCheckinInterval, randN: maxRand, trialEnds: t0.Add(DefaultTrialTimeout)}
}

// online is the world with a current certificate and no attestation due.
var online = facts{now: t0, cert: true, attestWhen: t0.Add(AttestEvery)}

// TestClassify: each kind of failure the steps see is the outcome the transitions expect.
func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want outcome
	}{
		{nil, succeeded},
		{&AttestError{Reason: api.ReasonUnknownRuntime}, rejected},
		{&AttestError{Reason: api.ReasonStaleNonce}, retryLater},
		{fmt.Errorf("check in: %w: %w", errCertRefused, &transport.Error{Status: 403}), rejected},
		{fmt.Errorf("app update: %w: bad signature", update.ErrRefused), rejected},
		{fmt.Errorf("check in: %w", &transport.Error{Err: errors.New("connection refused")}), retryLater},
		{fmt.Errorf("ask for updates: %w", &transport.Error{Status: 503}), retryLater},
		{fmt.Errorf("ask for updates: %w", &transport.Error{Status: 429}), retryLater},
		{fmt.Errorf("check in: %w", &transport.Error{Status: 404}), failed},
		{errors.New("store the certificate: disk full"), failed},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	// A refused attestation is of the transport's classes too.
	if err := error(&AttestError{Reason: api.ReasonUnknownRuntime}); !errors.Is(err, transport.ErrRejected) || errors.Is(err, transport.ErrRetryLater) {
		t.Errorf("%v: want rejected, not retry later", err)
	}
	if err := error(&AttestError{Reason: api.ReasonStaleNonce}); errors.Is(err, transport.ErrRejected) || !errors.Is(err, transport.ErrRetryLater) {
		t.Errorf("%v: want retry later, not rejected", err)
	}
	if api.RetryableReason(api.ReasonUnknownRuntime) {
		t.Fatal("the test assumes that an unknown runtime does not pass by retrying")
	}
}

// TestWake: a round starts with ATTEST when attestation is due and its backoff is over, else
// with CHECK IN when the check-in is due, else it sleeps on.
func TestWake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		f         facts
		retryAt   time.Time
		checkinAt time.Time
		once      bool
		want      phase
	}{
		{"attestation due", facts{now: t0, attestDue: true}, time.Time{}, time.Time{}, false, phaseAttest},
		{"attestation due, in backoff, no certificate", facts{now: t0, attestDue: true}, t0.Add(time.Minute), time.Time{}, false, phaseSleep},
		{"attestation due, in backoff, certificate current", facts{now: t0, attestDue: true, cert: true}, t0.Add(time.Minute), time.Time{}, false, phaseCheckin},
		{"check-in due", online, time.Time{}, t0, false, phaseCheckin},
		{"nothing due", online, time.Time{}, t0.Add(time.Hour), false, phaseSleep},
		{"once, nothing due", online, time.Time{}, t0.Add(time.Hour), true, phaseStop},
		{"once, no certificate", facts{now: t0}, t0.Add(time.Minute), time.Time{}, true, phaseStop},
	} {
		m := newMachine(phaseSleep)
		m.retryAt, m.checkinAt, m.once = tc.retryAt, tc.checkinAt, tc.once
		m.wake(tc.f)
		if m.phase != tc.want {
			t.Errorf("%s: wake to %s, want %s", tc.name, m.phase, tc.want)
		}
	}
}

// TestAttestTransitions: ATTEST → CHECK IN on a pass, and after a failure while the old
// certificate is current; → SLEEP after a failure without one, after a backoff that is at
// the cap when rejected; → stop when running once, or on trial when rejected or too late.
func TestAttestTransitions(t *testing.T) {
	t.Parallel()
	noCert := facts{now: t0, attestWhen: t0}
	for _, tc := range []struct {
		name    string
		f       facts
		o       outcome
		trial   bool
		once    bool
		want    phase
		retryAt time.Time // zero: none
		stopErr bool
	}{
		{"pass", online, succeeded, false, false, phaseCheckin, time.Time{}, false},
		{"pass, once", online, succeeded, false, true, phaseCheckin, time.Time{}, false},
		{"pass, on trial", online, succeeded, true, false, phaseCheckin, time.Time{}, false},
		{"retry later, old certificate current", online, retryLater, false, false, phaseCheckin, t0.Add(BackoffBase), false},
		{"retry later", noCert, retryLater, false, false, phaseSleep, t0.Add(BackoffBase), false},
		{"failed", noCert, failed, false, false, phaseSleep, t0.Add(BackoffBase), false},
		{"rejected", noCert, rejected, false, false, phaseSleep, t0.Add(BackoffCap), false},
		{"rejected, once", noCert, rejected, false, true, phaseStop, t0.Add(BackoffCap), true},
		{"retry later, once", noCert, retryLater, false, true, phaseStop, t0.Add(BackoffBase), true},
		{"rejected, on trial", noCert, rejected, true, false, phaseStop, t0.Add(BackoffCap), true},
		{"retry later, on trial", noCert, retryLater, true, false, phaseSleep, t0.Add(BackoffBase), false},
		{"retry later, on trial, too late", facts{now: t0.Add(DefaultTrialTimeout)}, retryLater, true, false, phaseStop, t0.Add(DefaultTrialTimeout + BackoffBase), true},
	} {
		m := newMachine(phaseAttest)
		m.trial, m.once, m.force, m.checkinAt = tc.trial, tc.once, true, t0.Add(-time.Hour)
		var err error
		if tc.o != succeeded {
			err = errors.New("attestation failed: " + tc.o.String())
		}
		m.attested(tc.f, tc.o, err)
		if m.phase != tc.want {
			t.Errorf("%s: to %s, want %s", tc.name, m.phase, tc.want)
		}
		if !m.retryAt.Equal(tc.retryAt) {
			t.Errorf("%s: next attempt at %s, want %s", tc.name, m.retryAt, tc.retryAt)
		}
		if (m.err != nil) != tc.stopErr || (m.err != nil && !errors.Is(m.err, err)) {
			t.Errorf("%s: stops with %v", tc.name, m.err)
		}
		if tc.o == succeeded && (m.force || m.attestFailures != 0 || !m.checkinAt.IsZero()) {
			t.Errorf("%s: force %v, %d failures, check-in at %s; want all reset", tc.name, m.force, m.attestFailures, m.checkinAt)
		}
		if tc.o != succeeded && m.attestFailures != 1 {
			t.Errorf("%s: %d failures counted, want 1", tc.name, m.attestFailures)
		}
	}
}

// TestAttestBackoffGrows: consecutive failures wait longer, up to the cap; a pass resets them.
func TestAttestBackoffGrows(t *testing.T) {
	t.Parallel()
	m := newMachine(phaseAttest)
	f := facts{now: t0}
	for i, want := range []time.Duration{BackoffBase, 2 * BackoffBase, 4 * BackoffBase} {
		m.attested(f, retryLater, errors.New("no answer"))
		if got := m.retryAt.Sub(t0); got != want {
			t.Errorf("failure %d: wait %s, want %s", i+1, got, want)
		}
	}
	m.attested(online, succeeded, nil)
	m.attested(f, retryLater, errors.New("no answer"))
	if got := m.retryAt.Sub(t0); got != BackoffBase {
		t.Errorf("after a pass, the first failure waits %s, want %s", got, BackoffBase)
	}
}

// TestCheckinTransitions: CHECK IN → REPORT when it works, the next one due after the
// interval; → SLEEP after a failure, with a backoff; a refused certificate (rejected) also
// makes attestation due; → stop when running once, or on trial when too late.
func TestCheckinTransitions(t *testing.T) {
	t.Parallel()
	late := online
	late.now = t0.Add(DefaultTrialTimeout)
	for _, tc := range []struct {
		name      string
		f         facts
		o         outcome
		trial     bool
		once      bool
		want      phase
		checkinAt time.Time
		force     bool
	}{
		{"works", online, succeeded, false, false, phaseReport, t0.Add(jitter(DefaultCheckinInterval, maxRand)), false},
		{"works, once", online, succeeded, false, true, phaseReport, t0.Add(jitter(DefaultCheckinInterval, maxRand)), false},
		{"retry later", online, retryLater, false, false, phaseSleep, t0.Add(BackoffBase), false},
		{"failed", online, failed, false, false, phaseSleep, t0.Add(BackoffBase), false},
		{"certificate refused", online, rejected, false, false, phaseSleep, t0.Add(BackoffBase), true},
		{"retry later, once", online, retryLater, false, true, phaseStop, t0.Add(BackoffBase), false},
		{"certificate refused, once", online, rejected, false, true, phaseStop, t0.Add(BackoffBase), true},
		{"retry later, on trial", online, retryLater, true, false, phaseSleep, t0.Add(BackoffBase), false},
		{"retry later, on trial, too late", late, retryLater, true, false, phaseStop, late.now.Add(BackoffBase), false},
	} {
		m := newMachine(phaseCheckin)
		m.trial, m.once = tc.trial, tc.once
		var err error
		if tc.o != succeeded {
			err = errors.New("check in: " + tc.o.String())
		}
		m.checkedIn(tc.f, tc.o, err)
		if m.phase != tc.want {
			t.Errorf("%s: to %s, want %s", tc.name, m.phase, tc.want)
		}
		if !m.checkinAt.Equal(tc.checkinAt) {
			t.Errorf("%s: next check-in at %s, want %s", tc.name, m.checkinAt, tc.checkinAt)
		}
		if m.force != tc.force {
			t.Errorf("%s: attestation forced %v, want %v", tc.name, m.force, tc.force)
		}
		if m.phase == phaseStop && !errors.Is(m.err, err) {
			t.Errorf("%s: stops with %v, want %v", tc.name, m.err, err)
		}
	}
}

// TestCheckinRefusedThenAttests: after the service refuses the certificate, the next wake
// attests even though the certificate is still valid.
func TestCheckinRefusedThenAttests(t *testing.T) {
	t.Parallel()
	m := newMachine(phaseCheckin)
	m.checkedIn(online, rejected, errCertRefused)
	f := online
	f.attestDue = m.force // what Decide says when forced
	m.wake(f)
	if m.phase != phaseAttest {
		t.Errorf("after a refused certificate, wake to %s, want attest", m.phase)
	}
}

// TestReportTransition: REPORT → UPDATE, whatever the upload did.
func TestReportTransition(t *testing.T) {
	t.Parallel()
	m := newMachine(phaseReport)
	m.reported()
	if m.phase != phaseUpdate {
		t.Errorf("to %s, want update", m.phase)
	}
}

// TestUpdateTransitions: UPDATE → SLEEP; a failure other than a refused image checks in again
// after a backoff, a refused image waits for the regular check-in; once, it stops with the
// cycle's error.
func TestUpdateTransitions(t *testing.T) {
	t.Parallel()
	regular := t0.Add(20 * time.Hour)
	for _, tc := range []struct {
		name      string
		o         outcome
		once      bool
		want      phase
		checkinAt time.Time
	}{
		{"works", succeeded, false, phaseSleep, regular},
		{"retry later", retryLater, false, phaseSleep, t0.Add(BackoffBase)},
		{"failed", failed, false, phaseSleep, t0.Add(BackoffBase)},
		{"image refused", rejected, false, phaseSleep, regular},
		{"works, once", succeeded, true, phaseStop, regular},
		{"retry later, once", retryLater, true, phaseStop, regular},
		{"image refused, once", rejected, true, phaseStop, regular},
	} {
		m := newMachine(phaseUpdate)
		m.once, m.checkinAt = tc.once, regular
		var err error
		if tc.o != succeeded {
			err = errors.New("update: " + tc.o.String())
		}
		m.updated(online, tc.o, err)
		if m.phase != tc.want {
			t.Errorf("%s: to %s, want %s", tc.name, m.phase, tc.want)
		}
		if !m.checkinAt.Equal(tc.checkinAt) {
			t.Errorf("%s: next check-in at %s, want %s", tc.name, m.checkinAt, tc.checkinAt)
		}
		if m.phase == phaseStop && m.err != err {
			t.Errorf("%s: stops with %v, want %v", tc.name, m.err, err)
		}
	}
}

// TestSleepUntilEarliestDue: SLEEP ends when attestation falls due, not before its backoff,
// or at the check-in if that comes first and the certificate is current.
func TestSleepUntilEarliestDue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		attest, retry, chk time.Time
		cert               bool
		want               time.Time
	}{
		{"check-in first", t0.Add(10 * time.Hour), time.Time{}, t0.Add(time.Hour), true, t0.Add(time.Hour)},
		{"attestation first", t0.Add(time.Hour), time.Time{}, t0.Add(10 * time.Hour), true, t0.Add(time.Hour)},
		{"attestation in backoff", t0, t0.Add(2 * time.Hour), t0.Add(10 * time.Hour), true, t0.Add(2 * time.Hour)},
		{"no certificate: no check-in", t0.Add(time.Hour), time.Time{}, t0, false, t0.Add(time.Hour)},
	} {
		m := newMachine(phaseSleep)
		m.retryAt, m.checkinAt = tc.retry, tc.chk
		got := m.wakeAt(facts{now: t0, cert: tc.cert, attestWhen: tc.attest})
		if !got.Equal(tc.want) {
			t.Errorf("%s: wake at %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestUpdateDueWhenDeferralEnds: when an app's deferral ends early (resumed) or runs out, the
// check-in, and the update cycle after it, is due at once; a check-in in backoff after
// failures keeps its backoff.
func TestUpdateDueWhenDeferralEnds(t *testing.T) {
	t.Parallel()
	m := newMachine(phaseSleep)
	m.checkinAt = t0.Add(20 * time.Hour)
	m.updateDue(t0)
	if !m.checkinAt.Equal(t0) {
		t.Errorf("next check-in at %s, want now (%s)", m.checkinAt, t0)
	}
	m.wake(online)
	if m.phase != phaseCheckin {
		t.Errorf("woken to %s, want %s", m.phase, phaseCheckin)
	}

	m = newMachine(phaseSleep)
	m.checkinFailures, m.checkinAt = 2, t0.Add(time.Minute)
	m.updateDue(t0)
	if !m.checkinAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("in backoff: next check-in at %s, want the backoff's %s", m.checkinAt, t0.Add(time.Minute))
	}
}

// TestNoticeCutsShortTheBackoff: when the service asks for a check-in over the notification
// channel, the check-in is due at once, even in the backoff of an update that failed a moment
// ago (the service is reachable and wants the device); with no failure it is due at once too.
func TestNoticeCutsShortTheBackoff(t *testing.T) {
	t.Parallel()
	for _, failures := range []int{0, 3} {
		m := newMachine(phaseSleep)
		m.updateFailures, m.checkinAt = failures, t0.Add(20*time.Hour)
		m.checkNow(t0)
		if !m.checkinAt.Equal(t0) {
			t.Errorf("%d update failures: next check-in at %s, want now (%s)", failures, m.checkinAt, t0)
		}
		m.wake(online)
		if m.phase != phaseCheckin {
			t.Errorf("%d update failures: woken to %s, want %s", failures, m.phase, phaseCheckin)
		}
	}
}
