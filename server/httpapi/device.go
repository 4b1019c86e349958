package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"

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

// maxNonceRequest bounds the body of a nonce request.
const maxNonceRequest = 4 << 10

// registerDevice adds the device routes to mux.
func (a *API) registerDevice(mux *http.ServeMux) {
	mux.Handle("POST "+api.DevicePathNonce, a.deviceRoute(a.deviceNonce))
	mux.Handle("POST "+api.DevicePathAttest, a.deviceRoute(a.deviceAttest))
	mux.Handle("GET "+api.DevicePathWhoami, a.deviceRoute(a.deviceAuth(a.deviceWhoami)))
	mux.Handle("GET "+api.DevicePathRuntimeKeys, a.deviceRoute(a.runtimeKeys))
	mux.Handle("GET "+api.DevicePathUpdates, a.deviceRoute(a.deviceAuth(a.deviceUpdates)))
	mux.Handle("POST "+api.DevicePathUpdateReport, a.deviceRoute(a.deviceAuth(a.deviceUpdateReport)))
	mux.Handle("GET "+api.DevicePathTUF+"{path...}", a.deviceRoute(a.deviceAuth(a.deviceTUF)))
	mux.Handle("GET "+api.DevicePathCapability, a.deviceRoute(a.deviceAuth(a.deviceCapability)))
	mux.Handle("POST "+api.DevicePathEvents, a.deviceRoute(a.deviceAuth(a.deviceEvents)))
	mux.HandleFunc("/device/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such device API route: "+r.Method+" "+r.URL.Path)
	})
}

type deviceHandler func(w http.ResponseWriter, r *http.Request) error

func (a *API) deviceRoute(h deviceHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if err := h(sw, r); err != nil {
			status, msg := a.errorStatus(r, err)
			writeError(sw, status, msg)
		}
		a.metrics.observe(r.Method+" "+r.URL.Path, sw.status, time.Since(start))
	})
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
	resp, err := a.attest.Nonce(r.Context(), req.DeviceID)
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
		status := http.StatusForbidden
		if f.Reason == api.ReasonMalformed {
			status = http.StatusBadRequest
		}
		return writeJSON(w, status, api.AttestResponse{Result: api.AttestFail, Reason: f.Reason, Message: f.Message})
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// deviceAuth admits a request only with a current device certificate of a claimed, unrevoked
// device of the tenant the certificate names.
// deviceCall is an authenticated device request: the device as the store knows it.
type deviceCall struct {
	api.Device
	Source string
}

func (a *API) deviceAuth(next func(w http.ResponseWriter, r *http.Request, d deviceCall) error) deviceHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return errorf(http.StatusUnauthorized, "this route needs mutual TLS with a device certificate; attest first")
		}
		tenantID, id, err := a.ca.VerifyDevice(r.Context(), r.TLS.PeerCertificates)
		if errors.Is(err, pki.ErrNotDeviceCert) {
			return errorf(http.StatusUnauthorized, "the client certificate is not a current device certificate; attest again")
		}
		if err != nil {
			return err
		}
		var d api.Device
		var certRevoked bool
		err = a.store.View(r.Context(), func(tx *store.Tx) error {
			if d, err = tx.Device(tenantID, id); err != nil {
				return err
			}
			// A certificate of a claim since released (or of a revoked device) is on the CRL.
			certRevoked, err = tx.DeviceCertRevoked(r.TLS.PeerCertificates[0].SerialNumber.Text(16))
			return err
		})
		if errors.Is(err, store.ErrNotFound) || err == nil && (d.State == api.DeviceRevoked || certRevoked) {
			return errorf(http.StatusForbidden, "device %s is not claimed by this tenant or was revoked", id)
		}
		if err != nil {
			return err
		}
		return next(w, r, deviceCall{Device: d, Source: sourceAddr(r)})
	}
}

func (a *API) deviceWhoami(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	return writeJSON(w, http.StatusOK, api.DeviceWhoami{DeviceID: d.ID, TenantID: d.TenantID, GroupID: d.GroupID})
}
