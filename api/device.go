package api

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// The device API (`/device/v1`) is what devices speak. The nonce and attestation routes are open
// to any TLS client; every other route requires mutual TLS with a device certificate of an
// unrevoked device.
const (
	DevicePathNonce  = "/device/v1/nonce"
	DevicePathAttest = "/device/v1/attest"
	DevicePathWhoami = "/device/v1/whoami"
)

// EvidenceContentType is the media type of an attestation request's body: a COSE_Sign1
// Entity Attestation Token (see package format/evidence).
const EvidenceContentType = "application/eat+cose"

// NonceRequest is the body of POST /device/v1/nonce.
type NonceRequest struct {
	DeviceID ident.DeviceID `json:"device_id"`
	// TPM is sent by a device whose root of trust is a TPM: the service answers with a
	// credential challenge for its keys.
	TPM *TPMKeys `json:"tpm,omitempty"`
}

// TPMKeys are a TPM device's endorsement and attestation keys, as it asks for a nonce.
type TPMKeys struct {
	// EKCertificate is the DER X.509 certificate of the TPM's endorsement key.
	EKCertificate []byte `json:"ek_certificate"`
	// AKPublic is the TPMT_PUBLIC of the attestation key; the device ID is the SHA-256 of
	// its public key's DER SubjectPublicKeyInfo.
	AKPublic []byte `json:"ak_public"`
}

// NonceResponse carries a fresh single-use nonce bound to the device that asked for it.
type NonceResponse struct {
	Nonce     []byte    `json:"nonce"`
	ExpiresAt time.Time `json:"expires_at"`
	// TPMCredential, for a device that sent its TPM keys, is a credential challenge
	// (TPM2_MakeCredential) whose secret only the TPM holding both keys can recover; the
	// evidence for this nonce must carry that secret.
	TPMCredential *TPMCredential `json:"tpm_credential,omitempty"`
}

// TPMCredential is an encrypted credential for TPM2_ActivateCredential: the credential blob
// (TPM2B_ID_OBJECT contents) and the secret seed encrypted to the endorsement key
// (TPM2B_ENCRYPTED_SECRET contents).
type TPMCredential struct {
	Credential []byte `json:"credential"`
	Secret     []byte `json:"secret"`
}

// Attestation results.
const (
	AttestPass = "pass"
	AttestFail = "fail"
)

// Reasons an attestation fails. A device acts on them: [RetryableReason] says which are worth
// another try with fresh evidence.
const (
	ReasonMalformed           = "malformed_evidence"
	ReasonBadSignature        = "bad_signature"
	ReasonAliasNotCertified   = "alias_not_certified"
	ReasonMeasurementMismatch = "measurement_mismatch"
	ReasonStaleNonce          = "stale_nonce"
	ReasonNonceForOther       = "nonce_for_another_device"
	ReasonUnclaimed           = "unclaimed"
	ReasonRevoked             = "revoked"
	ReasonUnknownRuntime      = "unknown_runtime"
	ReasonDebugNotAllowed     = "debug_mode_not_allowed"
	ReasonUnknownImage        = "unknown_image"
	// ReasonClaimCodeMismatch: the device was claimed with a code that is not its own. The
	// claim is dropped, so that whoever has the device can claim it with the right code.
	ReasonClaimCodeMismatch = "claim_code_mismatch"
	// ReasonClaimCodeUnproven: the device was claimed with a code but its runtime sends no
	// proof of its own (a runtime older than claim codes); the claim stays.
	ReasonClaimCodeUnproven = "claim_code_unproven"
	// ReasonWithdrawnRuntime: the device runs a runtime release the operator withdrew.
	ReasonWithdrawnRuntime = "withdrawn_runtime"
)

// RetryableReason reports whether an attestation that failed for reason may pass when tried
// again without a change to the device (a new nonce, or a claim by the administrator).
func RetryableReason(reason string) bool {
	switch reason {
	case ReasonStaleNonce, ReasonUnclaimed, ReasonClaimCodeMismatch:
		return true
	}
	return false
}

// AttestResponse answers POST /device/v1/attest. On a pass it carries the device certificate
// (24 hours, for the key that signed the evidence: the Alias key, or the TPM signing key) and the tenant's CA chain, in PEM.
type AttestResponse struct {
	Result      string    `json:"result"`
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	Mode        string    `json:"mode,omitempty"` // "normal" or "debug"
	Certificate string    `json:"certificate,omitempty"`
	CAChain     string    `json:"ca_chain,omitempty"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// DeviceWhoami answers GET /device/v1/whoami: what the service knows of the calling device.
type DeviceWhoami struct {
	DeviceID ident.DeviceID `json:"device_id"`
	TenantID ident.TenantID `json:"tenant_id"`
	GroupID  ident.GroupID  `json:"device_group_id,omitempty"`
	// CapabilitySHA256 is the SHA-256, hex, of the development capability that
	// DevicePathCapability would answer with, or "" when the device holds none: a device that
	// holds that capability already need not ask for it. Absent from an older service, which
	// the device then asks as before.
	CapabilitySHA256 *string `json:"capability_sha256,omitempty"`
}

// CA is one of a tenant's certificate authorities for device certificates.
type CA struct {
	ID          string         `json:"id"`
	TenantID    ident.TenantID `json:"tenant_id"`
	Subject     string         `json:"subject"`
	Fingerprint string         `json:"sha256_fingerprint"`
	NotBefore   time.Time      `json:"not_before"`
	NotAfter    time.Time      `json:"not_after"`
	Active      bool           `json:"active"`
}

// RuntimeRelease is a release of the device runtime published on an OS feed. Its SHA-512 is the
// code measurement a device running it reports.
type RuntimeRelease struct {
	ID          string    `json:"id"`
	Feed        string    `json:"feed"`
	Version     string    `json:"version"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	SHA512      string    `json:"sha512"`
	PublishedAt time.Time `json:"published_at"`
	// WithdrawnAt is when the operator withdrew the release: devices running it fail
	// attestation, and its version is never published again.
	WithdrawnAt *time.Time `json:"withdrawn_at,omitempty"`

	// The release as devices download it: an image package of type runtime, signed with the
	// operator's runtime-signing key.
	ImageID       ident.ImageID `json:"image_id,omitempty"`
	PackageSize   int64         `json:"package_size,omitempty"`
	PackageSHA256 string        `json:"package_sha256,omitempty"`
}

// WithdrawReleaseRequest is the body of POST /api/v1/os/releases/withdraw (operator only).
type WithdrawReleaseRequest struct {
	Feed    string `json:"feed"`
	Version string `json:"version"`
}

// MaxRuntimeSize bounds a runtime release's upload.
const MaxRuntimeSize = 256 << 20

// AttestationFailureEventID is the ID of the AttestationFailed error event of an attestation
// that used nonce. The service (recording the failure) and the device (queueing it) derive the
// same ID, so the event is stored once however many sides report it. It is a UUID (version 8)
// made of SHA-256 over a fixed label and the nonce.
func AttestationFailureEventID(nonce []byte) string {
	h := sha256.Sum256(append([]byte("rampart attestation failure event\x00"), nonce...))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// DevicePathNotify is the device's notification channel (GET, mutual TLS): a stream of
// DeviceNotice lines (newline-delimited JSON) that the service writes when the device should check
// in now (a new deployment for its group, `rampart device-group notify`), and a keep-alive line
// every NotifyKeepAlive. The service ends the stream after NotifyStreamLife, so that a device
// moved to another group or revoked is looked at again; the device opens it again at once, and
// checks in on its interval whatever happens to the channel.
const DevicePathNotify = "/device/v1/notify"

// NotifyContentType is the media type of the notification stream.
const NotifyContentType = "application/x-ndjson"

// How often the service writes a keep-alive line, and how long a stream lasts.
const (
	NotifyKeepAlive  = 45 * time.Second
	NotifyStreamLife = 10 * time.Minute
)

// The reasons of a DeviceNotice.
const (
	NoticeKeepAlive  = "keep-alive" // nothing to do: the channel is alive
	NoticeDeployment = "deployment" // a new deployment for the device's group
	NoticeRollout    = "rollout"    // its rollout moved: a wave promoted, paused, resumed, halted or cancelled
	NoticeCheckNow   = "check-now"  // rampart device-group notify
)

// DeviceNotice is one line of the notification stream: check in after DelayMS milliseconds, a
// jitter that spreads a large group's check-ins (nothing to do for NoticeKeepAlive).
type DeviceNotice struct {
	Reason  string `json:"reason"`
	DelayMS int64  `json:"delay_ms,omitempty"`
}

// MaxNoticeLine bounds a line of the notification stream that a device reads; MaxNoticeDelay
// the delay it accepts.
const (
	MaxNoticeLine  = 256
	MaxNoticeDelay = 5 * time.Minute
)
