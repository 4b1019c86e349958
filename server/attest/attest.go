// Package attest provides remote attestation on the service's side: single-use nonces bound to a
// device, and the appraisal of a device's evidence that decides whether it gets a 24-hour
// certificate (DESIGN section 5, step 3).
//
// # Appraisal
//
// [Service.Attest] is a fixed sequence of checks, each of which ends the appraisal with a reason
// a device can act on (api.Reason…):
//
//  1. parse the evidence strictly (format/evidence): malformed_evidence;
//  2. verify it: the Alias certificate is signed by the DeviceID key in the token
//     (alias_not_certified), the token by the Alias key (bad_signature), and the measurements in
//     the token equal those in the certificate (measurement_mismatch);
//  3. take the nonce: issued by this service, not used before, not expired (stale_nonce), and
//     issued for this device (nonce_for_another_device);
//  4. find the device: claimed by a tenant (unclaimed), not revoked (revoked), and, when it
//     was claimed with a claim code, proving that code in the evidence (claim_code_mismatch,
//     or claim_code_unproven without a proof: the claim is dropped, see checkClaim);
//  5. appraise the measurements: the runtime is a published release (unknown_runtime) that was
//     not withdrawn (withdrawn_runtime), every
//     image the device runs is one of its tenant's, with the same package hash (unknown_image),
//     and Debug mode only with the development capability (debug_mode_not_allowed); a device
//     in development may also run sideloaded images;
//  6. issue the certificate for the Alias key, chained to the tenant's active CA.
//
// The nonce is taken only after the signatures verify, so nobody but the device can spend a
// nonce issued to it. Every outcome is recorded on the device; every failure is kept for error
// reporting and, for a claimed device, written to its tenant's audit log.
//
// # Transactions
//
// An attestation reads in one transaction (the appraisal) and writes in at most one (record):
// the nonce spent, the outcome, and the certificate or the failure's event, audit entry and
// dropped claim, all or nothing. The certificate is signed between the two, outside either.
package attest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
)

// NonceLifetime is how long a nonce may be used after it was issued.
const NonceLifetime = 5 * time.Minute

// Service issues nonces and appraises evidence.
type Service struct {
	st       *store.Store
	ca       *pki.Authority
	log      *slog.Logger
	now      func() time.Time
	nonceKey []byte
	unknown  *Aggregate

	activationKey []byte // see tpm.go
}

// New returns an attestation service.
func New(st *store.Store, ca *pki.Authority, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, ca: ca, log: log, now: now, nonceKey: ca.DeriveKey(nonceKeyPurpose),
		unknown: NewAggregate(), activationKey: ca.DeriveKey(activationKeyPurpose)}
}

// Nonce issues a fresh nonce for a device. Any device may ask: the nonce proves freshness, not
// identity, and is good once. It writes nothing (see [issueNonce]).
func (s *Service) Nonce(ctx context.Context, device ident.DeviceID) (api.NonceResponse, error) {
	expires := s.now().UTC().Add(NonceLifetime).Truncate(time.Microsecond)
	return api.NonceResponse{Nonce: issueNonce(s.nonceKey, device, expires), ExpiresAt: expires}, nil
}

// Unknown returns the aggregate of failures of callers that are not a claimed device.
func (s *Service) Unknown() *Aggregate { return s.unknown }

// Failure is an appraisal that did not pass: its reason (api.Reason…) and a message that is
// safe to show the device.
type Failure struct {
	Reason  string
	Message string

	drop *claimDrop // the claim to drop when the failure is recorded (see checkClaim)
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Message }

func fail(reason, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Attest appraises evidence and, when it passes, issues the device's certificate. A *Failure is
// an appraisal that did not pass; any other error is the service's fault.
//
// Only a claimed device's attestation writes: its outcome, and the nonce it spent. The failures
// of every other caller (evidence that does not parse or verify, a device nobody claimed) are
// counted in memory ([Aggregate]), so a request that proves nothing opens no write transaction.
func (s *Service) Attest(ctx context.Context, token []byte, source string) (api.AttestResponse, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	ev, f := s.verify(token)
	if f != nil {
		s.unknown.Add(now, store.Attestation{At: now, Result: api.AttestFail, Reason: f.Reason, Message: f.Message, Source: source})
		return api.AttestResponse{}, f
	}
	rec := store.Attestation{DeviceID: ev.DeviceID, At: now, Source: source, Mode: modeName(ev.Claims.Measurements.Mode),
		RuntimeSHA512: hex.EncodeToString(ev.Claims.Measurements.Runtime[:]), Nonce: ev.Claims.Nonce}
	root := evidenceRoot(ev)
	rec.RootOfTrust, rec.EKFingerprint = root.name, root.ekFingerprint
	nonceFail := checkNonce(s.nonceKey, ev.Claims.Nonce, ev.DeviceID, now)
	dev, err := s.appraise(ctx, ev, now, nonceFail == nil)
	var af *Failure
	switch {
	case errors.As(err, &af) && af.Reason == api.ReasonUnclaimed:
		if nonceFail != nil {
			af = nonceFail
		}
		rec.Result, rec.Reason, rec.Message = api.AttestFail, af.Reason, af.Message
		s.unknown.Add(now, rec)
		return api.AttestResponse{}, af
	case err != nil && af == nil:
		return api.AttestResponse{}, err
	case nonceFail != nil:
		af = nonceFail
	}
	rec.TenantID = dev.TenantID
	if af != nil {
		return api.AttestResponse{}, s.fail(ctx, rec, af)
	}
	cert, chain, certRec, err := s.ca.SignDevice(ctx, dev.TenantID, dev.ID, ev.SigningKey())
	if err != nil {
		return api.AttestResponse{}, err
	}
	expiry := cert.NotAfter
	rec.Result, rec.CertExpiry = api.AttestPass, &expiry
	if err := s.record(ctx, rec, &certRec, nil); err != nil {
		if errors.As(err, &af) { // the nonce was spent before: a replay, recorded as such
			s.log.Info("attestation failed", "device", rec.DeviceID, "reason", af.Reason, "source", rec.Source)
		}
		return api.AttestResponse{}, err
	}
	s.log.Debug("attestation passed", "device", rec.DeviceID, "tenant", rec.TenantID, "certificate_expiry", expiry, "source", rec.Source)
	return api.AttestResponse{
		Result:      api.AttestPass,
		Mode:        rec.Mode,
		Certificate: string(pki.PEMCertificate(cert.Raw)),
		CAChain:     string(chain),
		ExpiresAt:   cert.NotAfter,
	}, nil
}

// verify is steps 1 and 2: parse and check the evidence's own signatures and consistency.
func (s *Service) verify(token []byte) (*evidence.Evidence, *Failure) {
	ev, err := evidence.Parse(token)
	if err != nil {
		if errors.Is(err, evidence.ErrTooLarge) {
			return nil, fail(api.ReasonMalformed, "evidence larger than %d bytes", evidence.MaxSize)
		}
		return nil, fail(api.ReasonMalformed, "%v", err)
	}
	switch err := ev.Verify(); {
	case err == nil:
		return ev, nil
	case errors.Is(err, evidence.ErrAliasNotCertified):
		return nil, fail(api.ReasonAliasNotCertified, "the Alias certificate is not signed by the device's DeviceID key")
	case errors.Is(err, evidence.ErrBadSignature):
		return nil, fail(api.ReasonBadSignature, "the evidence is not signed by the Alias key")
	case errors.Is(err, evidence.ErrMeasurementMismatch) && ev.Claims.TPM != nil:
		return nil, fail(api.ReasonMeasurementMismatch, "the measurements in the evidence differ from the last in the TPM event log")
	case errors.Is(err, evidence.ErrMeasurementMismatch):
		return nil, fail(api.ReasonMeasurementMismatch, "the measurements in the evidence differ from those in the Alias certificate")
	case errors.Is(err, evidence.ErrKeyNotCertified):
		return nil, fail(api.ReasonBadQuote, "the signing key is not a TPM key certified by the attestation key")
	case errors.Is(err, evidence.ErrBadQuote):
		return nil, fail(api.ReasonBadQuote, "the TPM quote is not signed by the attestation key over this nonce "+
			"and the runtime PCR's value; ask for a new nonce and quote again")
	case errors.Is(err, evidence.ErrEventLogMismatch):
		return nil, fail(api.ReasonEventLogMismatch, "the event log does not replay to the quoted PCR value; "+
			"restart the device so that stage 0 measures the runtime into a reset TPM")
	default:
		return nil, fail(api.ReasonMalformed, "%v", err)
	}
}

// appraise is steps 4 and 5 (the nonce, step 3, is checked by checkNonce and spent by
// record). It returns the device (as far as it is known) with any failure. It only reads, but
// for one case: evidence with a fresh nonce that does not prove the code a claim was made with
// drops that claim (checkClaim), so that a squatter cannot hold the device.
func (s *Service) appraise(ctx context.Context, ev *evidence.Evidence, now time.Time, fresh bool) (api.Device, error) {
	var dev api.Device
	var releases, feed []api.RuntimeRelease
	var unknownImage ident.ImageID
	var verifier ident.ClaimVerifier
	var withCode bool
	var rootFail error
	err := s.st.View(ctx, func(tx *store.Tx) error {
		var err error
		if dev, rootFail, err = s.deviceAndRoot(tx, ev, now); err != nil {
			return err
		}
		if verifier, withCode, err = tx.ClaimVerifier(ev.DeviceID); err != nil {
			return err
		}
		if releases, err = tx.RuntimeReleasesBySHA512(hex.EncodeToString(ev.Claims.Measurements.Runtime[:])); err != nil {
			return err
		}
		if allWithdrawn(releases) {
			if feed, err = tx.RuntimeReleases(releases[0].Feed); err != nil {
				return err
			}
		}
		unknownImage, err = firstUnknownImage(tx, dev.TenantID, ev.Claims.Images)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return dev, fail(api.ReasonUnclaimed, "device %s is not claimed by any tenant; claim it with 'rampart device claim'", ev.DeviceID)
	case err != nil:
		return dev, err
	case dev.State == api.DeviceRevoked:
		return dev, fail(api.ReasonRevoked, "device %s was revoked", ev.DeviceID)
	}
	if err := s.checkClaimAndRoot(ctx, ev, dev, verifier, withCode && fresh, now, rootFail); err != nil {
		return dev, err
	}
	switch {
	case allWithdrawn(releases):
		return dev, withdrawnRuntime(releases, feed)
	case len(releases) == 0:
		return dev, fail(api.ReasonUnknownRuntime, "the device runs a runtime (SHA-512 %s…) that is not a published release",
			hex.EncodeToString(ev.Claims.Measurements.Runtime[:8]))
	case unknownImage != "" && !dev.Development:
		return dev, fail(api.ReasonUnknownImage, "the device runs image %s, which is not one of its tenant's images "+
			"(or differs from it); only a device in development may run sideloaded images", unknownImage)
	case ev.Claims.Measurements.Mode == dice.ModeDebug && !dev.Development:
		return dev, fail(api.ReasonDebugNotAllowed, "the device booted in Debug mode without the development capability")
	case ev.Claims.Measurements.Mode != dice.ModeNormal && ev.Claims.Measurements.Mode != dice.ModeDebug:
		return dev, fail(api.ReasonMalformed, "mode %s cannot be attested", ev.Claims.Measurements.Mode)
	}
	return dev, nil
}

// fail records a claimed device's failure (logging, not returning, a failure to record: it
// does not change the answer) and returns f, or the replay f turned out to be.
func (s *Service) fail(ctx context.Context, rec store.Attestation, f *Failure) *Failure {
	rec.Result, rec.Reason, rec.Message, rec.CertExpiry = api.AttestFail, f.Reason, f.Message, nil
	err := s.record(ctx, rec, nil, f.drop)
	if errors.As(err, &f) { // the nonce was spent before: a replay, recorded as such
		rec.Reason, err = f.Reason, nil
	}
	if err != nil {
		s.log.Error("record attestation", "device", rec.DeviceID, "err", err)
	}
	if rec.TenantID != "" {
		s.log.Info("attestation failed", "device", rec.DeviceID, "reason", rec.Reason, "source", rec.Source, "tenant", rec.TenantID)
	} else {
		s.log.Info("attestation failed", "device", rec.DeviceID, "reason", rec.Reason, "source", rec.Source)
	}
	return f
}

// record stores a claimed device's outcome in one transaction, the appraisal's only write:
//
//   - the nonce spent; if it was spent before, the outcome becomes that failure (stale_nonce,
//     returned as a *Failure once recorded), with no certificate and no claim dropped, so that
//     a replayed token changes nothing but the record of the replay;
//   - the device's last attestation;
//   - on a pass, the device's root of trust and its new certificate (cert), recorded for the
//     CRLs before the device has it;
//   - on a failure, its error event and audit entry, and the claim dropped if drop says so
//     (see checkClaim), after them, since dropping the claim forgets the device.
func (s *Service) record(ctx context.Context, a store.Attestation, cert *store.DeviceCert, drop *claimDrop) error {
	var replay *Failure
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		a, cert, drop := a, cert, drop // as given, each time the transaction runs
		replay = nil
		if a.Reason != api.ReasonStaleNonce && a.Reason != api.ReasonNonceForOther {
			err := tx.UseNonce(a.Nonce, a.DeviceID, nonceExpiry(a.Nonce))
			switch {
			case errors.Is(err, store.ErrExists):
				replay = fail(api.ReasonStaleNonce, "the nonce was used already; ask for a new one")
				a.Result, a.Reason, a.Message, a.CertExpiry = api.AttestFail, replay.Reason, replay.Message, nil
				cert, drop = nil, nil
			case err != nil:
				return err
			}
		}
		if err := tx.RecordAttestation(a); err != nil {
			return err
		}
		if a.Result == api.AttestPass {
			if err := tx.SetRootOfTrust(a.TenantID, a.DeviceID, a.RootOfTrust, a.EKFingerprint); err != nil {
				return err
			}
			return tx.AddDeviceCert(*cert, a.At)
		}
		// The failure is also an error event of the device, for the tenant's error reports.
		if _, err := report.Add(tx, report.AttestationFailure(a)); err != nil {
			return err
		}
		_, err := tx.AppendAudit(api.AuditEntry{TenantID: a.TenantID, Time: a.At, Actor: "device/" + string(a.DeviceID),
			Action: "device.attest.fail", Target: "device/" + string(a.DeviceID), Source: a.Source,
			Detail: a.Reason + ": " + a.Message})
		if err != nil || drop == nil {
			return err
		}
		return drop.apply(tx, a.DeviceID, a.At)
	})
	if err == nil && replay != nil {
		return replay
	}
	return err
}

func modeName(m dice.Mode) string { return strings.ToLower(m.String()) }

// firstUnknownImage returns the ID of the first image in the evidence that is not one of the
// tenant's images with the same package SHA-256, or "" if every one is.
func firstUnknownImage(tx *store.Tx, tenantID ident.TenantID, images []evidence.Image) (ident.ImageID, error) {
	for _, img := range images {
		id := ident.ImageID(img.ID)
		rec, err := tx.Image(tenantID, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && rec.SHA256 != img.Digest.String() {
			return id, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", nil
}
