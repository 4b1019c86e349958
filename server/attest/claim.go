package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// checkClaim is the claim-code step of the appraisal (after step 4): a device claimed with a
// claim code must prove, in its evidence, that it has that code. A claim made by ID alone
// (before claim codes, or where the operator allows it) is not checked.
//
// When the proof is missing or is of another code, the claim is a squatter's (or a mistake):
// it is dropped, with an entry in the claiming tenant's audit log, so that whoever has the
// device can claim it with its code. The device is refused either way. checkClaim writes
// nothing: the drop rides on the failure it returns and is made when the failure is recorded,
// in the transaction that spends the nonce (Service.record), so a replayed token drops nothing.
func (s *Service) checkClaim(_ context.Context, ev *evidence.Evidence, dev api.Device, v ident.ClaimVerifier, _ time.Time) error {
	if ev.Claims.ClaimProof != nil && ident.CheckClaimProof(v, ev.Claims.Nonce, ev.DeviceID, ev.Claims.ClaimProof) {
		return nil
	}
	reason, why := api.ReasonClaimCodeMismatch, "the device proves another claim code than the one it was claimed with"
	if ev.Claims.ClaimProof == nil {
		reason, why = api.ReasonClaimCodeUnproven, "the device's runtime proves no claim code (its stage 0 is older than claim codes)"
	}
	f := fail(reason, "%s; the claim was dropped: claim the device again with the code that "+
		"'rampart-device id --claim-code' prints or its label shows", why)
	f.drop = &claimDrop{tenantID: dev.TenantID, verifier: v, detail: reason + ": " + why}
	return f
}

// claimDrop is a claim that an appraisal found unproven, to be dropped.
type claimDrop struct {
	tenantID ident.TenantID
	verifier ident.ClaimVerifier // the claim that was checked
	detail   string
}

// apply drops the claim in tx, with its entry in the tenant's audit log, if it is still the
// claim that was checked: a new claim made meanwhile is left alone.
func (d *claimDrop) apply(tx *store.Tx, device ident.DeviceID, now time.Time) error {
	if cur, ok, err := tx.ClaimVerifier(device); err != nil || !ok || cur != d.verifier {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := tx.ReleaseDevice(d.tenantID, device, now); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	_, err := tx.AppendAudit(api.AuditEntry{TenantID: d.tenantID, Time: now, Actor: "rampart server",
		Action: "device.claim.drop", Target: "device/" + string(device), Source: "attestation", Detail: d.detail})
	return err
}

// allWithdrawn reports whether every one of releases (at least one) is withdrawn.
func allWithdrawn(releases []api.RuntimeRelease) bool {
	for _, r := range releases {
		if r.WithdrawnAt == nil {
			return false
		}
	}
	return len(releases) > 0
}

// withdrawnRuntime is the failure of a device whose runtime is a release only under withdrawn
// versions (releases, newest first); feed is the releases of the newest one's feed, newest
// first, from which it names the newest release the device is offered instead.
func withdrawnRuntime(releases, feed []api.RuntimeRelease) error {
	newer := ""
	for _, r := range feed {
		if r.WithdrawnAt == nil {
			newer = fmt.Sprintf("; update it to %s %s, which its OS feed offers", r.Feed, r.Version)
			break
		}
	}
	return fail(api.ReasonWithdrawnRuntime, "the device runs %s %s (SHA-512 %s…), which the operator withdrew%s",
		releases[0].Feed, releases[0].Version, releases[0].SHA512[:16], newer)
}
