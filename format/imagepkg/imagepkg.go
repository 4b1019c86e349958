// Package imagepkg provides Rampart's image package: one streamable file holding a manifest,
// signatures over the manifest, and the payload (a WebAssembly app or a device runtime). The
// exact bytes are written down in docs/image-package.md.
//
// Reading verifies in the order the bytes come: the header (magic, manifest, signatures) is
// read and a signature by a trusted key checked before a byte of the payload is trusted; the
// payload is then hashed while it streams, and any mismatch, any byte beyond the declared size,
// or a short payload is an error at the end of the stream.
package imagepkg

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// Limits of a package's parts.
const (
	MaxManifestSize = 64 << 10
	MaxSignatures   = 8
	MaxPayloadSize  = 256 << 20
)

// The fixed parts of the format (docs/image-package.md).
const (
	// Magic starts every package.
	Magic = "RMPKG1\n\x00"
	// FormatVersion is the only manifest "format" this package reads and writes.
	FormatVersion = 1
	// SignatureContext is prefixed to the manifest's bytes before hashing them for a signature,
	// so that no signature over other data can pass for one over a manifest.
	SignatureContext = "rampart-image-v1\x00"
	// MaxSignatureSize bounds one signature's bytes (an ASN.1 ECDSA P-256 signature is at most 72).
	MaxSignatureSize = 128
	// MaxVersionLen bounds a manifest's version.
	MaxVersionLen = 40

	keyIDLen = 2 * sha256.Size
)

// Image types.
const (
	TypeApplication = "application"
	TypeRuntime     = "runtime"
)

// Manifest describes a package. Unknown fields are refused when reading.
type Manifest struct {
	Format        int           `json:"format"` // 1
	ImageID       string        `json:"image_id"`
	ComponentID   string        `json:"component_id"`
	Name          string        `json:"name"`
	Version       string        `json:"version"`
	Type          string        `json:"type"`
	PayloadSize   int64         `json:"payload_size"`
	PayloadSHA256 ident.Digest  `json:"payload_sha256"`
	App           *manifest.App `json:"app_manifest,omitempty"` // applications only
}

// Signature is one signature over the manifest's bytes.
type Signature struct {
	KeyID string // hex SHA-256 of the signer's SubjectPublicKeyInfo
	Sig   []byte // ECDSA P-256, ASN.1, over SHA-256("rampart-image-v1\x00" ‖ manifest bytes)
}

// Header is what precedes the payload.
type Header struct {
	Manifest      Manifest
	ManifestBytes []byte // exactly as signed
	Signatures    []Signature
}

// Errors, grouped so that a caller can tell a package to refuse from a fault to retry.
var (
	ErrMalformed       = errors.New("malformed image package")
	ErrTooLarge        = errors.New("image package part too large")
	ErrUntrusted       = errors.New("image package not signed by a trusted key")
	ErrPayloadMismatch = errors.New("image package payload does not match its manifest")
)

// KeyID names a public key: the hex SHA-256 of its DER SubjectPublicKeyInfo.
// It returns "" for a key that cannot be encoded (nil, or on no standard curve).
func KeyID(pub *ecdsa.PublicKey) string {
	if pub == nil {
		return ""
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Validate checks m's fields as [ReadHeader] does: Format 1; ImageID and ComponentID lowercase
// UUIDs; Name an object name (ident.ValidateName); Version 1–40 characters of letters, digits,
// '.', '+' and '-', starting with a letter or digit; Type application or runtime; App present
// and valid for an application, its ComponentId equal to ComponentID, and absent for a runtime;
// PayloadSize 0–MaxPayloadSize; PayloadSHA256 set (and the empty string's for an empty
// payload). Errors wrap ErrMalformed, or ErrTooLarge for PayloadSize.
func (m *Manifest) Validate() error {
	if m.Format != FormatVersion {
		return malformed("format %d is not supported: want %d", m.Format, FormatVersion)
	}
	if !ident.IsID(m.ImageID) {
		return malformed("image_id %s is not a lowercase UUID", manifestQuote(m.ImageID))
	}
	if !ident.IsID(m.ComponentID) {
		return malformed("component_id %s is not a lowercase UUID", manifestQuote(m.ComponentID))
	}
	if err := ident.ValidateName(m.Name); err != nil {
		return malformed("name: %v", err)
	}
	if err := ValidateVersion(m.Version); err != nil {
		return fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	switch m.Type {
	case TypeApplication:
		if m.App == nil {
			return malformed("an application needs app_manifest")
		}
		if err := m.App.Validate(); err != nil {
			return fmt.Errorf("%w: manifest: app_manifest: %w", ErrMalformed, err)
		}
		if m.App.ComponentId != m.ComponentID {
			return malformed("app_manifest's ComponentId %s differs from component_id %s", m.App.ComponentId, m.ComponentID)
		}
	case TypeRuntime:
		if m.App != nil {
			return malformed("a runtime has no app_manifest")
		}
	default:
		return malformed("type %s: want %q or %q", manifestQuote(m.Type), TypeApplication, TypeRuntime)
	}
	switch {
	case m.PayloadSize < 0:
		return malformed("payload_size %d is negative", m.PayloadSize)
	case m.PayloadSize > MaxPayloadSize:
		return fmt.Errorf("%w: payload_size %d is over the limit of %d bytes", ErrTooLarge, m.PayloadSize, MaxPayloadSize)
	}
	switch {
	case m.PayloadSHA256 == ident.Digest{}:
		return malformed("payload_sha256 is missing")
	case m.PayloadSize == 0 && m.PayloadSHA256 != emptySHA256:
		return malformed("payload_sha256 of an empty payload is not the SHA-256 of nothing")
	}
	return nil
}

var emptySHA256 = ident.SHA256(nil)

// ValidateVersion checks an image version: 1–40 characters of letters, digits, '.', '+' and
// '-', the first a letter or digit ("1.0.0", "2.1.0-rc.1+build.7").
func ValidateVersion(v string) error {
	if v == "" || len(v) > MaxVersionLen {
		return fmt.Errorf("version %s: want 1 to %d characters", manifestQuote(v), MaxVersionLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alnum {
			return fmt.Errorf("version %s: want a letter or digit first", manifestQuote(v))
		}
		if !alnum && c != '.' && c != '+' && c != '-' {
			return fmt.Errorf("version %s: only letters, digits, '.', '+' and '-' are allowed", manifestQuote(v))
		}
	}
	return nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// manifestQuote quotes a value from a manifest for an error: short and printable.
func manifestQuote(s string) string {
	const max = 60
	if len(s) > max {
		return strconv.QuoteToASCII(s[:max]) + "…"
	}
	return strconv.QuoteToASCII(s)
}

// parseManifest strictly decodes and validates a manifest's bytes.
func parseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty manifest", ErrMalformed)
	}
	if len(b) > MaxManifestSize {
		return m, fmt.Errorf("%w: manifest of %d bytes is over the limit of %d", ErrTooLarge, len(b), MaxManifestSize)
	}
	if err := strictjson.Decode(b, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", ErrMalformed, err)
	}
	// As manifest.Parse does: one form for "no entries", so that a manifest encodes back to itself.
	if m.App != nil {
		if len(m.App.Capabilities.AllowedConnections) == 0 {
			m.App.Capabilities.AllowedConnections = nil
		}
		if len(m.App.Capabilities.Gpio) == 0 {
			m.App.Capabilities.Gpio = nil
		}
	}
	return m, m.Validate()
}

// signedDigest is what a signature signs: SHA-256(SignatureContext ‖ manifest bytes).
func signedDigest(manifestBytes []byte) []byte {
	h := sha256.New()
	h.Write([]byte(SignatureContext))
	h.Write(manifestBytes)
	return h.Sum(nil)
}

// Write writes a package: the header for m signed by each signer (ECDSA P-256), then exactly
// m.PayloadSize bytes of payload, whose SHA-256 must be m.PayloadSHA256.
//
// The manifest is encoded as compact JSON in the field order of [Manifest]. Write checks m
// (as [Manifest.Validate]) and the signers before it writes anything; a payload that turns out
// to differ from m is an error wrapping ErrPayloadMismatch after the bytes were written, and
// what was written must then be thrown away.
func Write(w io.Writer, m Manifest, payload io.Reader, signers ...crypto.Signer) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	// Never write what ReadHeader would refuse (a manifest too large, say).
	if _, err := parseManifest(b); err != nil {
		return fmt.Errorf("write image package: %w", err)
	}
	return write(w, b, m, payload, signers)
}

// ReadHeader reads and strictly parses a header from r, leaving r at the payload. It checks the
// manifest's fields (types, IDs, names, sizes) but no signature.
//
// ReadHeader reads exactly the header's bytes, so r need not be buffered, and allocates at most
// MaxManifestSize bytes plus MaxSignatures signatures whatever r holds. Refusals wrap
// ErrMalformed or ErrTooLarge; an error reading r is returned wrapped as it is (a fault that
// may pass), except that a stream ending inside the header is ErrMalformed.
func ReadHeader(r io.Reader) (*Header, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, fmt.Errorf("read image package: %w", err)
	}
	return h, nil
}

// Verify checks that a signature by one of trusted (by KeyID) covers the manifest, and returns
// that key's ID. ErrUntrusted if none does.
// Only ECDSA P-256 keys count, and only under their own KeyID: a key filed under another ID is
// ignored.
func (h *Header) Verify(trusted map[string]*ecdsa.PublicKey) (string, error) {
	if h == nil || len(h.ManifestBytes) == 0 {
		return "", fmt.Errorf("%w: no manifest to verify", ErrUntrusted)
	}
	digest := signedDigest(h.ManifestBytes)
	failed := ""
	for _, s := range h.Signatures {
		pub := trusted[s.KeyID]
		if pub == nil || pub.Curve != elliptic.P256() || KeyID(pub) != s.KeyID {
			continue
		}
		if ecdsa.VerifyASN1(pub, digest, s.Sig) {
			return s.KeyID, nil
		}
		if failed == "" {
			failed = s.KeyID
		}
	}
	if failed != "" {
		return "", fmt.Errorf("%w: the signature by trusted key %s… does not match the manifest", ErrUntrusted, failed[:16])
	}
	ids := make([]string, len(h.Signatures))
	for i, s := range h.Signatures {
		ids[i] = s.KeyID[:min(16, len(s.KeyID))] + "…"
	}
	return "", fmt.Errorf("%w: signed only by unknown keys %v", ErrUntrusted, ids)
}

// Payload returns a reader of the payload that follows the header in r. Its Read returns
// ErrPayloadMismatch at the end if the size or SHA-256 differ from the manifest's, or if more
// bytes follow the declared size.
//
// The reader hands out bytes as they stream, before they are known to be right: a caller must
// not use them (install, run) until Read has returned io.EOF. To tell "more bytes follow" at the
// end it reads one byte beyond the payload from r. Errors reading r are returned as they are.
func (h *Header) Payload(r io.Reader) io.Reader {
	return newPayloadReader(r, h.Manifest.PayloadSize, h.Manifest.PayloadSHA256)
}

// Resign writes the package h and its payload (from r) again with the signatures of signers
// only, as the service does on upload. The manifest's bytes are kept as they are.
//
// h.ManifestBytes are parsed again and must hold h.Manifest. Resign neither needs nor checks
// h's old signatures: a caller verifies them first. The payload is checked as it streams, as
// [Write] does.
func Resign(w io.Writer, h *Header, payload io.Reader, signers ...crypto.Signer) error {
	if h == nil {
		return errors.New("resign image package: no header")
	}
	m, err := parseManifest(h.ManifestBytes)
	if err != nil {
		return fmt.Errorf("resign image package: %w", err)
	}
	if !reflect.DeepEqual(m, h.Manifest) {
		return fmt.Errorf("resign image package: %w: the header's Manifest differs from its ManifestBytes", ErrMalformed)
	}
	return write(w, h.ManifestBytes, m, payload, signers)
}
