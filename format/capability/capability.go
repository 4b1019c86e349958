// Package capability provides the development capability: a statement, signed with a tenant's
// image-signing key, that one device may run developer-signed images, accept sideloaded ones and
// boot in Debug mode. The service issues it (`rampart device enable-development`); the device
// fetches it at check-in and checks it before every use.
//
// # Format
//
// The wire form is JSON: {"payload": base64, "key_id": hex, "signature": base64}. The payload is
// the JSON of [Development]; the signature is ECDSA P-256 (ASN.1) over
// SHA-256("rampart-capability-v1\x00" ‖ payload), by the key whose ID (hex SHA-256 of its
// SubjectPublicKeyInfo) is key_id. The context string keeps a capability's signature from being
// passed off as an image package's, which the same key signs.
package capability

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/format/strictjson"
	"github.com/rampart-iot/rampart/ident"
)

// MaxSize bounds a capability's wire form.
const MaxSize = 16 << 10

// MaxDeveloperKeys bounds the developer keys one capability names.
const MaxDeveloperKeys = 8

const signingContext = "rampart-capability-v1\x00"

// Development is the development capability of one device.
type Development struct {
	Format        int            `json:"format"` // 1
	TenantID      string         `json:"tenant_id"`
	DeviceID      ident.DeviceID `json:"device_id"`
	DeveloperKeys []string       `json:"developer_keys"` // PEM public keys whose image signatures the device accepts
	IssuedAt      time.Time      `json:"issued_at"`
}

type wire struct {
	Payload   []byte `json:"payload"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// ErrInvalid is wrapped by every refusal of Verify.
var ErrInvalid = errors.New("invalid development capability")

// KeyID names a public key: the hex SHA-256 of its SubjectPublicKeyInfo.
func KeyID(pub *ecdsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Sign returns the wire form of d signed with key (the tenant's image-signing key).
func Sign(d Development, key crypto.Signer) ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("sign capability: not an ECDSA key")
	}
	payload, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(append([]byte(signingContext), payload...))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wire{Payload: payload, KeyID: KeyID(pub), Signature: sig})
}

// Verify checks b against the tenant's keys (by key ID) and that it names device, and returns
// the capability.
func Verify(b []byte, trusted map[string]*ecdsa.PublicKey, device ident.DeviceID) (*Development, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSize)
	}
	var w wire
	if err := strictjson.Decode(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	pub, ok := trusted[w.KeyID]
	if !ok {
		return nil, fmt.Errorf("%w: signed by an unknown key", ErrInvalid)
	}
	digest := sha256.Sum256(append([]byte(signingContext), w.Payload...))
	if !ecdsa.VerifyASN1(pub, digest[:], w.Signature) {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	var d Development
	if err := strictjson.Decode(w.Payload, &d); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	if d.DeviceID != device {
		return nil, fmt.Errorf("%w: issued for another device", ErrInvalid)
	}
	return &d, nil
}

func (d Development) validate() error {
	if d.Format != 1 {
		return fmt.Errorf("%w: format %d, want 1", ErrInvalid, d.Format)
	}
	if !ident.IsID(d.TenantID) {
		return fmt.Errorf("%w: tenant_id", ErrInvalid)
	}
	if _, err := ident.ParseDeviceID(string(d.DeviceID)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(d.DeveloperKeys) > MaxDeveloperKeys {
		return fmt.Errorf("%w: more than %d developer keys", ErrInvalid, MaxDeveloperKeys)
	}
	if _, err := d.Keys(); err != nil {
		return err
	}
	return nil
}

// Keys parses the developer keys, by key ID.
func (d Development) Keys() (map[string]*ecdsa.PublicKey, error) {
	out := map[string]*ecdsa.PublicKey{}
	for i, s := range d.DeveloperKeys {
		block, rest := pem.Decode([]byte(s))
		if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("%w: developer_keys[%d] is not one PEM public key", ErrInvalid, i)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		ec, ok := pub.(*ecdsa.PublicKey)
		if err != nil || !ok {
			return nil, fmt.Errorf("%w: developer_keys[%d] is not an ECDSA public key", ErrInvalid, i)
		}
		out[KeyID(ec)] = ec
	}
	return out, nil
}
