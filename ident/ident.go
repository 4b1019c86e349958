// Package ident provides the small value types that name things in Rampart — device IDs, object
// IDs, content digests and object names — with the parsers that validate them.
//
// Every layer (service, device runtime, CLI, client) uses these types instead of bare strings, so
// a value that reaches a store query or a file path has already been checked once, at the edge.
package ident

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/rampart-iot/rampart/format/safetext"
)

// DeviceID names a device: the lowercase hex SHA-256 of its DeviceID public key in DER
// SubjectPublicKeyInfo form. It is stable for the life of the device.
type DeviceID string

// DeviceIDFromPublicKey returns the device ID of a DeviceID public key given as DER
// SubjectPublicKeyInfo.
func DeviceIDFromPublicKey(spki []byte) DeviceID {
	sum := sha256.Sum256(spki)
	return DeviceID(hex.EncodeToString(sum[:]))
}

// ParseDeviceID checks that s is 64 lowercase hex characters.
func ParseDeviceID(s string) (DeviceID, error) {
	if len(s) != 64 || !isLowerHex(s) {
		return "", fmt.Errorf("invalid device ID %s: want 64 lowercase hex characters", safetext.Quote(s, 70))
	}
	return DeviceID(s), nil
}

func (d DeviceID) String() string { return string(d) }

// Digest is a SHA-256 content hash.
type Digest [sha256.Size]byte

// SHA256 returns the digest of b.
func SHA256(b []byte) Digest { return sha256.Sum256(b) }

// ParseDigest parses 64 lowercase hex characters.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 64 || !isLowerHex(s) {
		return d, fmt.Errorf("invalid digest %s: want 64 lowercase hex characters", safetext.Quote(s, 70))
	}
	hex.Decode(d[:], []byte(s))
	return d, nil
}

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText encodes the digest as lowercase hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses lowercase hex.
func (d *Digest) UnmarshalText(b []byte) error {
	v, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// The IDs of the objects the service keeps, each a type of its own so that one cannot be passed
// where another is wanted: a group ID given as a tenant ID does not compile. Each is a UUID in
// the form [NewID] makes (the runtime's component ID is a fixed one). They encode in JSON and in
// the database as the plain strings they are.
type (
	// TenantID names a tenant: the isolation boundary that owns users, products, devices and keys.
	TenantID string
	// ProductID names a product, a kind of device a tenant makes.
	ProductID string
	// GroupID names a device group of a product.
	GroupID string
	// ImageID names an image package; the same ID never names other content.
	ImageID string
	// ComponentID names an application (or the runtime) across its images: each version of
	// an application is a new image of the same component.
	ComponentID string
	// DeploymentID names a deployment, a set of images for one device group.
	DeploymentID string
)

// NewID returns a random RFC 9562 version 4 UUID in its canonical lowercase form. Tenants,
// users, products, device groups, images and deployments are named by such IDs.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// IsID reports whether s has the canonical lowercase UUID form that [NewID] produces.
func IsID[T ~string](s T) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isLowerHex(string(s[i : i+1])) {
				return false
			}
		}
	}
	return true
}

// ErrInvalidName is returned by [ValidateName] for a name outside the allowed form.
var ErrInvalidName = errors.New("invalid name")

// MaxNameLen is the longest allowed object name, in characters.
const MaxNameLen = 50

// ValidateName checks an object name (tenant, product, device group): 1 to 50 characters, each a
// letter, digit, space, '-' or '_', neither starting nor ending with a space. Names are unique
// case-insensitively within their parent; see [NameKey].
func ValidateName(s string) error {
	if s == "" || len(s) > MaxNameLen {
		return fmt.Errorf("%w %s: want 1 to %d characters", ErrInvalidName, safetext.Quote(s, 70), MaxNameLen)
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("%w %s: no leading or trailing spaces", ErrInvalidName, safetext.Quote(s, 70))
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ' ' || c == '-' || c == '_'
		if !ok {
			return fmt.Errorf("%w %s: only letters, digits, spaces, '-' and '_' are allowed", ErrInvalidName, safetext.Quote(s, 70))
		}
	}
	return nil
}

// NameKey is the form under which names are compared for uniqueness.
func NameKey(s string) string { return strings.ToLower(s) }

// MaxEmailLen is the longest allowed user email address.
const MaxEmailLen = 254

// ValidateEmail does the light check an identity (not a mailbox) needs: one '@' with text on
// both sides, at most 254 bytes of UTF-8, and no spaces, '/', control characters, bidirectional
// controls or zero-width characters ([safetext.Unsafe]): two addresses that look the same must
// be the same.
func ValidateEmail(s string) error {
	at := strings.IndexByte(s, '@')
	if len(s) > MaxEmailLen || at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return fmt.Errorf("invalid email %s", safetext.Quote(s, 70))
	}
	if err := safetext.Check(s); err != nil {
		return fmt.Errorf("invalid email %s: %v", safetext.Quote(s, 70), err)
	}
	for _, c := range s {
		if c <= ' ' || c == '/' || unicode.IsSpace(c) {
			return fmt.Errorf("invalid email %s", safetext.Quote(s, 70))
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
