package agent

import (
	"crypto"
	"crypto/x509"
	"math/rand/v2"
	"time"
)

// When to attest and when to retry (DESIGN section 5 step 3: "at start, then every 24 hours,
// and whenever its certificate is due"). A restart with the same runtime keeps its Alias key,
// so a current certificate for that key is used as it is rather than replaced at every start.
const (
	// AttestEvery is the longest time between two passed attestations.
	AttestEvery = 24 * time.Hour
	// BackoffBase and BackoffCap bound the wait after a failed attempt: full jitter over
	// BackoffBase·2ⁿ, at most BackoffCap.
	BackoffBase = 30 * time.Second
	BackoffCap  = time.Hour
	// DefaultCheckinInterval is the mean time between check-ins.
	DefaultCheckinInterval = 20 * time.Hour
	// minWait keeps a confused clock from turning the loop into a busy loop.
	minWait = time.Second
)

// Decision says whether to attest now, why, and when attestation falls due otherwise.
type Decision struct {
	Attest bool
	Why    string
	Due    time.Time // when attestation is due; at or before now when Attest
}

// Decide applies the attestation rules of DESIGN section 5 step 3 at now. cert is the leaf of
// cert.pem (nil if there is none or it does not chain), alias the current Alias public key,
// lastPass when an attestation last passed (zero if unknown). It attests:
//   - when forced;
//   - when there is no certificate, or it is for another key (an earlier runtime);
//   - when the certificate is not yet or no longer valid;
//   - when two thirds of its life are gone;
//   - when the last passed attestation is 24 hours old.
func Decide(now time.Time, cert *x509.Certificate, alias crypto.PublicKey, lastPass time.Time, force bool) Decision {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch {
	case force:
		return Decision{Attest: true, Why: "forced", Due: now}
	case cert == nil:
		return Decision{Attest: true, Why: "no certificate", Due: now}
	}
	if k, ok := alias.(equaler); !ok || !k.Equal(cert.PublicKey) {
		return Decision{Attest: true, Why: "the certificate is for another Alias key", Due: now}
	}
	if now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return Decision{Attest: true, Why: "the certificate is not valid now", Due: now}
	}
	renew := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
	if lastPass.IsZero() {
		lastPass = cert.NotBefore // the best estimate of when it was issued
	}
	daily := lastPass.Add(AttestEvery)
	due, why := renew, "two thirds of the certificate's life are gone"
	if daily.Before(renew) {
		due, why = daily, "the daily attestation is due"
	}
	return Decision{Attest: !now.Before(due), Why: why, Due: due}
}

// Backoff returns the wait before the next attempt after failures consecutive failures
// (failures ≥ 1). A retryable failure waits a random time up to BackoffBase·2^(failures−1),
// capped at BackoffCap ("full jitter"), and at least a second. A failure that will not pass
// without a change on the service's side (api.RetryableReason) still retries, so that a later
// claim or release lets the device recover, but only at the cap: between BackoffCap/2 and
// BackoffCap.
func Backoff(failures int, retryable bool, randN func(time.Duration) time.Duration) time.Duration {
	if !retryable {
		return BackoffCap/2 + randN(BackoffCap/2+1)
	}
	ceil := BackoffCap
	if failures < 1 {
		failures = 1
	}
	if failures <= 20 {
		ceil = min(BackoffBase<<(failures-1), BackoffCap)
	}
	return max(randN(ceil+1), minWait)
}

// jitter returns interval ± 10 %, so that devices started together do not check in together.
func jitter(interval time.Duration, randN func(time.Duration) time.Duration) time.Duration {
	spread := interval / 5
	if spread <= 0 {
		return max(interval, minWait)
	}
	return max(interval-spread/2+randN(spread), minWait)
}

// randN is a uniform random duration in [0, n).
func randN(n time.Duration) time.Duration { return rand.N(n) }
