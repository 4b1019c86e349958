package api

import "time"

// Roots of trust a device attests with (Device.RootOfTrust).
const (
	RootOfTrustSoftware = "software"
	RootOfTrustTPM      = "tpm"
)

// MaxTPMCAFile is the largest PEM file of TPM manufacturer CA certificates the service takes
// in one request, and MaxTPMCAs the most certificates in it.
const (
	MaxTPMCAFile = 256 << 10
	MaxTPMCAs    = 64
)

// TPMCA is a TPM manufacturer CA that the operator trusts: endorsement-key certificates that
// chain to one of these (through added intermediates, up to an added root) are accepted.
type TPMCA struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"sha256_fingerprint"`
	Root        bool      `json:"root"` // self-signed; otherwise an intermediate
	NotAfter    time.Time `json:"not_after"`
	AddedAt     time.Time `json:"added_at"`
	AddedBy     string    `json:"added_by"`
}

// AddTPMCAsRequest is the body of POST /api/v1/tpm-cas: a PEM file of one or more CA
// certificates. The answer lists the CAs added.
type AddTPMCAsRequest struct {
	PEM string `json:"pem"`
}

// Reasons an attestation with the TPM root of trust fails (and one for the software root in a
// group that requires a TPM).
const (
	// ReasonTPMRequired: the device's group requires a TPM root of trust, or the device has
	// attested with its TPM before, and the evidence is from the software root.
	ReasonTPMRequired = "tpm_required"
	// ReasonUntrustedTPM: the endorsement key's certificate does not chain to a TPM
	// manufacturer CA the operator added with 'rampart tpm-ca add'.
	ReasonUntrustedTPM = "untrusted_tpm"
	// ReasonActivationFailed: the evidence does not carry the secret of the credential the
	// service encrypted to the endorsement key for the attestation key, so the attestation
	// key is not shown to be in that TPM.
	ReasonActivationFailed = "credential_activation_failed"
	// ReasonBadQuote: the TPM quote is not signed by the attestation key, not over the nonce,
	// or not over the runtime PCR; or the signing key is not a TPM key certified by it.
	ReasonBadQuote = "bad_quote"
	// ReasonEventLogMismatch: the event log does not replay to the quoted PCR value, or its
	// last event is not the measurements the evidence claims.
	ReasonEventLogMismatch = "event_log_mismatch"
	// ReasonEKChanged: the device attested before with another endorsement key.
	ReasonEKChanged = "endorsement_key_changed"
)
