package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	alias, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cert := func(key *ecdsa.PrivateKey) *x509.Certificate {
		return &x509.Certificate{PublicKey: &key.PublicKey, NotBefore: issued, NotAfter: issued.Add(24 * time.Hour)}
	}
	renew := issued.Add(16 * time.Hour) // two thirds of 24 h
	for _, tc := range []struct {
		name     string
		now      time.Time
		cert     *x509.Certificate
		lastPass time.Time
		force    bool
		attest   bool
		due      time.Time // checked when not attesting
	}{
		{name: "no certificate", now: issued, attest: true},
		{name: "certificate for another Alias key (runtime changed)", now: issued.Add(time.Hour), cert: cert(other), lastPass: issued, attest: true},
		{name: "fresh certificate", now: issued.Add(time.Hour), cert: cert(alias), lastPass: issued, due: renew},
		{name: "just before two thirds", now: renew.Add(-time.Second), cert: cert(alias), lastPass: issued, due: renew},
		{name: "two thirds of its life gone", now: renew, cert: cert(alias), lastPass: issued, attest: true},
		{name: "expired", now: issued.Add(25 * time.Hour), cert: cert(alias), lastPass: issued, attest: true},
		{name: "not yet valid (clock behind)", now: issued.Add(-time.Hour), cert: cert(alias), lastPass: issued, attest: true},
		{name: "forced with a fresh certificate", now: issued.Add(time.Hour), cert: cert(alias), lastPass: issued, force: true, attest: true},
		{name: "daily attestation due before renewal", now: issued.Add(2 * time.Hour), cert: cert(alias),
			lastPass: issued.Add(-22 * time.Hour), attest: true},
		{name: "daily attestation not yet due", now: issued.Add(time.Hour), cert: cert(alias),
			lastPass: issued.Add(-20 * time.Hour), due: issued.Add(4 * time.Hour)},
		{name: "unknown last pass: the certificate's issue time stands in", now: issued.Add(time.Hour), cert: cert(alias), due: renew},
	} {
		d := Decide(tc.now, tc.cert, &alias.PublicKey, tc.lastPass, tc.force)
		if d.Attest != tc.attest {
			t.Errorf("%s: attest = %v (%s), want %v", tc.name, d.Attest, d.Why, tc.attest)
			continue
		}
		if !tc.attest && !d.Due.Equal(tc.due) {
			t.Errorf("%s: due %v, want %v", tc.name, d.Due, tc.due)
		}
		if tc.attest && d.Due.After(tc.now) {
			t.Errorf("%s: attests now but says due at %v", tc.name, d.Due)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	lowest := func(time.Duration) time.Duration { return 0 }
	highest := func(n time.Duration) time.Duration { return n - 1 }
	for failures := 1; failures <= 40; failures++ {
		ceil := BackoffCap
		if failures <= 7 {
			ceil = min(BackoffBase<<(failures-1), BackoffCap)
		}
		if got := Backoff(failures, true, lowest); got != minWait {
			t.Errorf("failure %d, retryable, lowest draw: %v, want %v", failures, got, minWait)
		}
		if got := Backoff(failures, true, highest); got != ceil {
			t.Errorf("failure %d, retryable, highest draw: %v, want %v", failures, got, ceil)
		}
		if got := Backoff(failures, false, lowest); got != BackoffCap/2 {
			t.Errorf("failure %d, not retryable, lowest draw: %v, want %v", failures, got, BackoffCap/2)
		}
		if got := Backoff(failures, false, highest); got != BackoffCap {
			t.Errorf("failure %d, not retryable, highest draw: %v, want %v", failures, got, BackoffCap)
		}
		for range 100 {
			if got := Backoff(failures, true, randN); got < minWait || got > ceil {
				t.Fatalf("failure %d: %v outside [%v, %v]", failures, got, minWait, ceil)
			}
			if got := Backoff(failures, false, randN); got < BackoffCap/2 || got > BackoffCap {
				t.Fatalf("failure %d, not retryable: %v outside [%v, %v]", failures, got, BackoffCap/2, BackoffCap)
			}
		}
	}
	if Backoff(1, true, func(n time.Duration) time.Duration { return n - 1 }) != BackoffBase {
		t.Error("the first retry may wait up to BackoffBase")
	}
}

func TestJitterBounds(t *testing.T) {
	t.Parallel()
	for _, interval := range []time.Duration{20 * time.Hour, time.Minute, 3 * time.Second} {
		for range 200 {
			if got := jitter(interval, randN); got < interval*9/10 || got > interval*11/10 {
				t.Fatalf("jitter(%v) = %v, want within 10 %%", interval, got)
			}
		}
	}
}
