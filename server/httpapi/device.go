package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/attest"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

// The device API (`/device/v1`). The nonce and attestation routes are open: a device has no
// certificate before its first attestation. Every other route requires mutual TLS with a
// current device certificate of a claimed, unrevoked device ([API.deviceAuth]).

// maxNonceRequest bounds the body of a nonce request: a device ID, and a TPM's EK certificate
// and AK public area in base64.
const maxNonceRequest = 12 << 10

// deviceHandler is a handler of an open device route; deviceAuthed one of a device-certificate
// route, given the authenticated device.
type (
	deviceHandler func(w http.ResponseWriter, r *http.Request) error
	deviceAuthed  func(w http.ResponseWriter, r *http.Request, d deviceCall) error
)

// open adapts a handler of an open route to the route table.
func open(h deviceHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error { return h(w, r) }
}

// device adapts a handler of a device-certificate route to the route table.
func device(h deviceAuthed) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		return h(w, r, deviceCall{Device: c.device, Source: c.source})
	}
}

func (a *API) deviceNonce(w http.ResponseWriter, r *http.Request) error {
	var req api.NonceRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxNonceRequest)
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if _, err := ident.ParseDeviceID(string(req.DeviceID)); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	var resp api.NonceResponse
	var err error
	if req.TPM != nil {
		resp, err = a.attest.NonceTPM(r.Context(), req.DeviceID, *req.TPM)
	} else {
		resp, err = a.attest.Nonce(r.Context(), req.DeviceID)
	}
	if errors.Is(err, attest.ErrBadTPMKeys) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// deviceAttest appraises evidence: 200 with the certificate on a pass, 403 (400 for malformed
// evidence) with the reason on a failure.
func (a *API) deviceAttest(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != api.EvidenceContentType {
		return errorf(http.StatusUnsupportedMediaType, "evidence must be sent as %s", api.EvidenceContentType)
	}
	token, err := io.ReadAll(http.MaxBytesReader(w, r.Body, evidence.MaxSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return writeJSON(w, http.StatusRequestEntityTooLarge, api.AttestResponse{Result: api.AttestFail,
				Reason: api.ReasonMalformed, Message: "evidence larger than 64 KiB"})
		}
		return err
	}
	resp, err := a.attest.Attest(r.Context(), token, sourceAddr(r))
	var f *attest.Failure
	if errors.As(err, &f) {
		a.metrics.attested(api.AttestFail, f.Reason)
		status := http.StatusForbidden
		if f.Reason == api.ReasonMalformed {
			status = http.StatusBadRequest
		}
		return writeJSON(w, status, api.AttestResponse{Result: api.AttestFail, Reason: f.Reason, Message: f.Message})
	}
	if err != nil {
		return err
	}
	a.metrics.attested(api.AttestPass, "")
	return writeJSON(w, http.StatusOK, resp)
}

// deviceCall is an authenticated device request: the device as the store knows it.
type deviceCall struct {
	api.Device
	Source string
}

// deviceAuth admits a request only with a current device certificate of a claimed, unrevoked
// device of the tenant the certificate names, and returns that device. It writes nothing. The
// certificate's chain is verified once (see certCache); the device is read on every request.
func (a *API) deviceAuth(r *http.Request) (api.Device, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return api.Device{}, errorf(http.StatusUnauthorized, "this route needs mutual TLS with a device certificate; attest first")
	}
	leaf := r.TLS.PeerCertificates[0]
	now := a.now()
	key := certKey(leaf)
	e, cached := a.certs.get(key, now)
	if !cached {
		epoch := a.certs.current()
		tenantID, id, err := a.ca.VerifyDevice(r.Context(), r.TLS.PeerCertificates)
		if errors.Is(err, pki.ErrNotDeviceCert) {
			return api.Device{}, errorf(http.StatusUnauthorized, "the client certificate is not a current device certificate; attest again")
		}
		if err != nil {
			return api.Device{}, err
		}
		e = certEntry{tenantID: tenantID, device: id, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter, epoch: epoch}
	}
	recheck := now.Sub(e.checked) >= revocationRecheck || now.Before(e.checked)
	var d api.Device
	var certRevoked bool
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if d, err = tx.Device(e.tenantID, e.device); err != nil || !recheck {
			return err
		}
		// A certificate of a claim since released (or of a revoked device) is on the CRL.
		certRevoked, err = tx.DeviceCertRevoked(leaf.SerialNumber.Text(16))
		return err
	})
	if errors.Is(err, store.ErrNotFound) || err == nil && (d.State == api.DeviceRevoked || certRevoked) {
		return api.Device{}, errorf(http.StatusForbidden, "device %s is not claimed by this tenant or was revoked", e.device)
	}
	if err != nil {
		return api.Device{}, err
	}
	if recheck { // always, for a certificate not cached
		e.checked = now
		a.certs.put(key, e, now)
	}
	return d, nil
}

func (a *API) deviceWhoami(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	var who api.DeviceWhoami
	var err error
	if d.Development {
		err = a.store.View(r.Context(), func(tx *store.Tx) (err error) {
			who, err = whoami(tx, d)
			return err
		})
	} else {
		who, err = whoami(nil, d) // without development mode, no read of the store
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, who)
}

// whoami is who the calling device is, as the service knows it: its ID, tenant and group, and
// the SHA-256 of the development capability it should hold ("" for none). A device without
// development mode has none, and needs no tx.
func whoami(tx *store.Tx, d deviceCall) (api.DeviceWhoami, error) {
	digest := ""
	if d.Development {
		body, err := tx.DevelopmentCapability(d.TenantID, d.ID)
		switch {
		case err == nil:
			sum := sha256.Sum256(body)
			digest = hex.EncodeToString(sum[:])
		case !errors.Is(err, store.ErrNotFound):
			return api.DeviceWhoami{}, err
		}
	}
	return api.DeviceWhoami{DeviceID: d.ID, TenantID: d.TenantID, GroupID: d.GroupID, CapabilitySHA256: &digest}, nil
}

// FlushAttestationFailures stores the counts of attestation failures of callers that are not a
// claimed device (kept in memory until then, see attest.Aggregate) and returns what it stored.
func (a *API) FlushAttestationFailures(ctx context.Context) ([]store.FailureCount, error) {
	pending := a.attest.Unknown().Pending()
	if err := a.attest.Unknown().Flush(ctx, a.store); err != nil {
		return nil, err
	}
	return pending, nil
}
