package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/transport"
	"github.com/rampart-iot/rampart/device/update"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/format/safetext"
)

// AttestError is an attestation that the service refused, with its reason.
type AttestError struct {
	Reason  string // one of the api.Reason… values, or another the service has since added
	Message string
	Nonce   []byte // the nonce the refused evidence carried
}

func (e *AttestError) Error() string {
	return "attestation failed: " + e.Reason + ": " + e.Message
}

// Retryable reports whether the attestation may pass when tried again without a change to the
// device: see api.RetryableReason.
func (e *AttestError) Retryable() bool { return api.RetryableReason(e.Reason) }

// Is puts a refused attestation in the device's classes of failure: transport.ErrRetryLater
// when it is retryable, else transport.ErrRejected.
func (e *AttestError) Is(target error) bool {
	switch target {
	case transport.ErrRetryLater:
		return e.Retryable()
	case transport.ErrRejected:
		return !e.Retryable()
	}
	return false
}

// errCertRefused is returned by a check-in that the service answered 401 or 403: the
// certificate is no longer good for it (expired, revoked, another CA), so attest again.
var errCertRefused = errors.New("the service refused the device certificate")

// attest runs one attestation (DESIGN section 5 step 3): ask for a nonce (with the TPM's keys,
// for a TPM device), send evidence signed with the Alias key or the TPM signing key, and on a
// pass check and store the certificate. Errors other than an
// [AttestError] mean no answer was had.
func (a *Agent) attest(ctx context.Context) (*Certificate, error) {
	body, _ := json.Marshal(api.NonceRequest{DeviceID: a.id.DeviceID, TPM: a.id.TPMKeys()})
	r, err := a.call(ctx, a.open, http.MethodPost, api.DevicePathNonce, "application/json", body)
	if err != nil {
		return nil, fmt.Errorf("ask for a nonce: %w", err)
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("ask for a nonce: %w", refusal(r))
	}
	var nr api.NonceResponse
	if err := transport.Decode(r.Body, &nr); err != nil {
		return nil, fmt.Errorf("ask for a nonce: %w", err)
	}
	if n := len(nr.Nonce); n < evidence.MinNonceSize || n > evidence.MaxNonceSize {
		return nil, fmt.Errorf("ask for a nonce: the service sent a nonce of %d bytes", n)
	}

	var token []byte
	if a.id.tpm != nil {
		token, err = a.id.TPMEvidence(nr.Nonce, nr.TPMCredential, a.now(), a.installedImages())
	} else {
		token, err = a.id.Evidence(nr.Nonce, a.now(), a.installedImages())
	}
	if err != nil {
		return nil, err
	}
	r, err = a.call(ctx, a.open, http.MethodPost, api.DevicePathAttest, api.EvidenceContentType, token)
	if err != nil {
		return nil, fmt.Errorf("send evidence: %w", err)
	}
	switch r.Status {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusForbidden:
		err := refusal(r)
		var ae *AttestError
		if errors.As(err, &ae) {
			ae.Nonce = nr.Nonce
		}
		return nil, err
	default:
		return nil, fmt.Errorf("send evidence: %w", refusal(r))
	}
	var ar api.AttestResponse
	if err := transport.Decode(r.Body, &ar); err != nil {
		return nil, fmt.Errorf("send evidence: %w", err)
	}
	if ar.Result != api.AttestPass {
		return nil, &AttestError{Reason: safetext.Line(ar.Reason, transport.MaxServiceText),
			Message: safetext.Line(ar.Message, transport.MaxServiceText), Nonce: nr.Nonce}
	}
	return a.install(ar.Certificate, ar.CAChain)
}

// install checks a certificate and its CA chain, both PEM, and writes them to cert.pem.
func (a *Agent) install(certPEM, chainPEM string) (*Certificate, error) {
	chain := certPEM
	if !strings.HasSuffix(chain, "\n") {
		chain += "\n"
	}
	chain += chainPEM
	c, err := a.id.ParseCertificate([]byte(chain), a.now())
	if err != nil {
		return nil, fmt.Errorf("the service issued an unusable certificate: %w", err)
	}
	if err := a.dir.WriteCert(c.PEM); err != nil {
		return nil, fmt.Errorf("store the certificate: %w", err)
	}
	return c, nil
}

// checkin is the device's check-in (DESIGN section 5 step 4): the update cycle's conditional
// request for the update info over mutual TLS ([update.Client.CheckIn]), which says who the
// service takes the device for. Its answer waits in a.answer for the update cycle. When the
// answer does not name the device — an older service's, or one the device cannot use, whose
// failure the update cycle then records — the service is asked whoami as well, so that the
// check-in works whenever the service knows the device, as it did before the update info
// named it.
func (a *Agent) checkin(ctx context.Context) (api.DeviceWhoami, error) {
	a.answer = nil
	ans, err := a.updateClient().CheckIn(ctx)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && (te.Status == http.StatusUnauthorized || te.Status == http.StatusForbidden) {
			return api.DeviceWhoami{}, fmt.Errorf("check in: %w: %w", errCertRefused, te)
		}
		return api.DeviceWhoami{}, fmt.Errorf("check in: %w", err)
	}
	var w api.DeviceWhoami
	if ans.Who != nil {
		w = *ans.Who
	} else if w, err = a.whoami(ctx); err != nil {
		return w, err
	}
	if w.DeviceID != a.id.DeviceID {
		return w, fmt.Errorf("check in: the service took this device for %.64q", w.DeviceID)
	}
	a.answer = ans
	return w, nil
}

// whoami asks the service, over mutual TLS, who the device is.
func (a *Agent) whoami(ctx context.Context) (api.DeviceWhoami, error) {
	var w api.DeviceWhoami
	r, err := a.call(ctx, a.mtls, http.MethodGet, api.DevicePathWhoami, "", nil)
	if err != nil {
		return w, fmt.Errorf("check in: %w", err)
	}
	switch r.Status {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return w, fmt.Errorf("check in: %w: %w", errCertRefused, refusal(r))
	default:
		return w, fmt.Errorf("check in: %w", refusal(r))
	}
	if err := transport.Decode(r.Body, &w); err != nil {
		return w, fmt.Errorf("check in: %w", err)
	}
	return w, nil
}

// installedImages lists the installed apps for the evidence. An app folder that cannot be read
// is left out (and logged): the service then sees that the device lacks it.
func (a *Agent) installedImages() []evidence.Image {
	apps, err := update.Apps(a.dir, true)
	if err != nil {
		a.opt.Log.Printf("list the installed apps for attestation: %v", err)
	}
	var out []evidence.Image
	for _, app := range apps {
		if len(out) == evidence.MaxImages {
			break
		}
		out = append(out, evidence.Image{ID: app.Image.ImageID, Digest: app.Package})
	}
	return out
}
