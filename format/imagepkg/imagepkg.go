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
	"errors"
	"io"

	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// Limits of a package's parts.
const (
	MaxManifestSize = 64 << 10
	MaxSignatures   = 8
	MaxPayloadSize  = 256 << 20
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
func KeyID(pub *ecdsa.PublicKey) string { panic("unimplemented") }

// Write writes a package: the header for m signed by each signer (ECDSA P-256), then exactly
// m.PayloadSize bytes of payload, whose SHA-256 must be m.PayloadSHA256.
func Write(w io.Writer, m Manifest, payload io.Reader, signers ...crypto.Signer) error {
	panic("unimplemented")
}

// ReadHeader reads and strictly parses a header from r, leaving r at the payload. It checks the
// manifest's fields (types, IDs, names, sizes) but no signature.
func ReadHeader(r io.Reader) (*Header, error) { panic("unimplemented") }

// Verify checks that a signature by one of trusted (by KeyID) covers the manifest, and returns
// that key's ID. ErrUntrusted if none does.
func (h *Header) Verify(trusted map[string]*ecdsa.PublicKey) (string, error) {
	panic("unimplemented")
}

// Payload returns a reader of the payload that follows the header in r. Its Read returns
// ErrPayloadMismatch at the end if the size or SHA-256 differ from the manifest's, or if more
// bytes follow the declared size.
func (h *Header) Payload(r io.Reader) io.Reader { panic("unimplemented") }

// Resign writes the package h and its payload (from r) again with the signatures of signers
// only, as the service does on upload. The manifest's bytes are kept as they are.
func Resign(w io.Writer, h *Header, payload io.Reader, signers ...crypto.Signer) error {
	panic("unimplemented")
}
