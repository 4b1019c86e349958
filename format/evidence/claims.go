package evidence

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/rampart-iot/rampart/format/dice"
	"github.com/rampart-iot/rampart/ident"
)

// Limits on the fields of the claims.
const (
	MinNonceSize = 8  // RFC 9711 eat_nonce: at least 64 bits
	MaxNonceSize = 64 // RFC 9711 eat_nonce: at most 512 bits
	MaxImages    = 64 // installed images listed in one token
)

// MeasurementsContentFormat is the CoAP content-format number under which the measurements
// claim carries Rampart's measurements map. It is taken from the range that the CoAP
// Content-Formats registry reserves for experimental use (65000-65535).
const MeasurementsContentFormat = 65000

// Claim keys.
const (
	keyIAT          = 6      // iat, RFC 8392
	keyNonce        = 10     // eat_nonce, RFC 9711
	keyUEID         = 256    // ueid, RFC 9711
	keyDbgStat      = 263    // dbgstat, RFC 9711
	keyMeasurements = 273    // measurements, RFC 9711
	keyDeviceKey    = -65537 // Rampart: DeviceID public key, DER SubjectPublicKeyInfo
	keyImages       = -65538 // Rampart: installed images
	keyClaimProof   = -65539 // Rampart: proof of the device's claim code (optional)
	keyTPM          = -65540 // Rampart: proof of a TPM root of trust (optional)
)

// ClaimProofSize is the size of the claim-code proof.
const ClaimProofSize = 32

// dbgstat values of RFC 9711 that Rampart uses.
const (
	dbgEnabled           = 0 // ModeDebug
	dbgDisabledSinceBoot = 2 // ModeNormal
)

// ueidTypeRAND is the RFC 9711 UEID type byte of a random (here: hash-derived) identifier.
const ueidTypeRAND = 0x01

// maxIAT is 9999-12-31T23:59:59Z: iat beyond it is refused.
const maxIAT = 253402300799

// Names in the measurements map.
const (
	measRuntime   = "runtime"
	measConfig    = "config"
	measAuthority = "authority"
)

// Claims are what a device asserts in its evidence.
type Claims struct {
	// Nonce is the service's challenge, 8 to 64 bytes.
	Nonce []byte
	// DeviceKey is the device's DeviceID public key, DER SubjectPublicKeyInfo of an ECDSA
	// P-256 key. The device ID is its SHA-256.
	DeviceKey []byte
	// IssuedAt is when the token was made, to the second.
	IssuedAt time.Time
	// Measurements are the measurements of the running layer. Only ModeNormal and ModeDebug
	// can be expressed in a token.
	Measurements dice.Measurements
	// Images are the installed images, at most 64; none is an empty list.
	Images []Image
	// ClaimProof, if not nil, is [ident.ClaimProof] of the device's claim code for Nonce and
	// the device ID: it shows the service which claim code the device has, so that a claim
	// made with another code can be told apart. A runtime older than the claim code sends
	// none.
	ClaimProof []byte
	// TPM, if not nil, is the proof of a TPM root of trust; nil for the software (DICE) root.
	TPM *TPM
}

// Image is one installed image.
type Image struct {
	ID     string       // image ID: canonical lowercase UUID
	Digest ident.Digest // SHA-256 of the image package
}

// Wire forms.
type (
	measurementFormat struct {
		_           struct{} `cbor:",toarray"`
		ContentType uint64
		Content     []byte
	}
	imageWire struct {
		ID     string `cbor:"1,keyasint"`
		Digest []byte `cbor:"2,keyasint"`
	}
	claimsWire struct {
		IAT          uint64              `cbor:"6,keyasint"`
		Nonce        []byte              `cbor:"10,keyasint"`
		UEID         []byte              `cbor:"256,keyasint"`
		DbgStat      uint64              `cbor:"263,keyasint"`
		Measurements []measurementFormat `cbor:"273,keyasint"`
		DeviceKey    []byte              `cbor:"-65537,keyasint"`
		Images       []imageWire         `cbor:"-65538,keyasint"`
		ClaimProof   []byte              `cbor:"-65539,keyasint,omitempty"`
		TPM          *tpmWire            `cbor:"-65540,keyasint,omitempty"`
	}
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	enc := cbor.CoreDetEncOptions()
	enc.IndefLength = cbor.IndefLengthForbidden
	enc.NilContainers = cbor.NilContainerAsEmpty
	var err error
	if encMode, err = enc.EncMode(); err != nil {
		panic(err)
	}
	dec := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxNesting,
		MaxArrayElements:  MaxImages,
		MaxMapPairs:       16,
		IntDec:            cbor.IntDecConvertNone,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}
	if decMode, err = dec.DecMode(); err != nil {
		panic(err)
	}
}

// maxNesting is the deepest nesting of arrays and maps the format has (claims map,
// measurements array, measurement-format array), with one to spare.
const maxNesting = 4

func ueid(deviceKey []byte) []byte {
	sum := sha256.Sum256(deviceKey)
	return append([]byte{ueidTypeRAND}, sum[:]...)
}

// parseDeviceKey parses a DeviceID key, which must be an ECDSA P-256 key in the one DER form
// Go produces, so that one key has one device ID.
func parseDeviceKey(spki []byte) (*ecdsa.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, fmt.Errorf("device key: %v", err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("device key is not an ECDSA P-256 key")
	}
	if again, err := x509.MarshalPKIXPublicKey(k); err != nil || !bytes.Equal(again, spki) {
		return nil, fmt.Errorf("device key is not in canonical DER form")
	}
	return k, nil
}

// check validates c against the format's rules, as both Sign and Parse need.
func (c *Claims) check() error {
	if n := len(c.Nonce); n < MinNonceSize || n > MaxNonceSize {
		return fmt.Errorf("nonce is %d bytes, want %d to %d", n, MinNonceSize, MaxNonceSize)
	}
	if _, err := parseDeviceKey(c.DeviceKey); err != nil {
		return err
	}
	if s := c.IssuedAt.Unix(); s < 0 || s > maxIAT {
		return fmt.Errorf("issued-at %v is outside 1970 to 9999", c.IssuedAt)
	}
	if m := c.Measurements.Mode; m != dice.ModeNormal && m != dice.ModeDebug {
		return fmt.Errorf("mode %v cannot be attested: want normal or debug", m)
	}
	if c.ClaimProof != nil && len(c.ClaimProof) != ClaimProofSize {
		return fmt.Errorf("claim proof is %d bytes, want %d", len(c.ClaimProof), ClaimProofSize)
	}
	if c.TPM != nil {
		if err := c.TPM.check(); err != nil {
			return err
		}
	}
	if len(c.Images) > MaxImages {
		return fmt.Errorf("%d images, want at most %d", len(c.Images), MaxImages)
	}
	seen := make(map[string]bool, len(c.Images))
	for _, im := range c.Images {
		if !ident.IsID(im.ID) {
			return fmt.Errorf("image ID %.40q is not a lowercase UUID", im.ID)
		}
		if seen[im.ID] {
			return fmt.Errorf("image %s listed twice", im.ID)
		}
		seen[im.ID] = true
	}
	return nil
}

// marshalClaims encodes c in CBOR core deterministic encoding.
func marshalClaims(c Claims) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	meas, err := encMode.Marshal(map[string][]byte{
		measRuntime:   c.Measurements.Runtime[:],
		measConfig:    c.Measurements.Config[:],
		measAuthority: c.Measurements.Authority[:],
	})
	if err != nil {
		return nil, err
	}
	dbg := uint64(dbgDisabledSinceBoot)
	if c.Measurements.Mode == dice.ModeDebug {
		dbg = dbgEnabled
	}
	w := claimsWire{
		IAT:          uint64(c.IssuedAt.Unix()),
		Nonce:        c.Nonce,
		UEID:         ueid(c.DeviceKey),
		DbgStat:      dbg,
		Measurements: []measurementFormat{{ContentType: MeasurementsContentFormat, Content: meas}},
		DeviceKey:    c.DeviceKey,
		Images:       make([]imageWire, len(c.Images)),
		ClaimProof:   c.ClaimProof,
		TPM:          c.TPM.wire(),
	}
	for i, im := range c.Images {
		w.Images[i] = imageWire{ID: im.ID, Digest: im.Digest[:]}
	}
	return encMode.Marshal(w)
}

// requiredClaims are the keys a claims map must have; optionalClaims those it may have. No
// others are allowed.
var (
	requiredClaims = []int64{keyIAT, keyNonce, keyUEID, keyDbgStat, keyMeasurements, keyDeviceKey, keyImages}
	optionalClaims = []int64{keyClaimProof, keyTPM}
)

// parseClaims decodes claims strictly: every claim present, no other, each well-typed and
// within its bounds, in core deterministic encoding.
func parseClaims(b []byte) (Claims, error) {
	keys, err := checkClaimKeys(b)
	if err != nil {
		return Claims{}, err
	}
	var w claimsWire
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Claims{}, fmt.Errorf("claims: %w", err)
	}
	c := Claims{Nonce: w.Nonce, DeviceKey: w.DeviceKey}
	if _, ok := keys[keyClaimProof]; ok {
		if len(w.ClaimProof) != ClaimProofSize {
			return Claims{}, fmt.Errorf("claim proof is %d bytes, want %d", len(w.ClaimProof), ClaimProofSize)
		}
		c.ClaimProof = w.ClaimProof
	}
	if raw, ok := keys[keyTPM]; ok {
		if c.TPM, err = parseTPM(raw, w.TPM); err != nil {
			return Claims{}, err
		}
	}
	if w.IAT > maxIAT {
		return Claims{}, fmt.Errorf("iat %d is after 9999", w.IAT)
	}
	c.IssuedAt = time.Unix(int64(w.IAT), 0).UTC()
	if c.Measurements, err = parseMeasurements(w); err != nil {
		return Claims{}, err
	}
	if c.Images, err = parseImages(w.Images); err != nil {
		return Claims{}, err
	}
	if err := c.check(); err != nil {
		return Claims{}, err
	}
	if !bytes.Equal(w.UEID, ueid(c.DeviceKey)) {
		return Claims{}, fmt.Errorf("ueid is not 0x01 followed by the SHA-256 of the device key")
	}
	// Decoders accept more than one encoding of a value; the format allows only one.
	if again, err := marshalClaims(c); err != nil || !bytes.Equal(again, b) {
		return Claims{}, fmt.Errorf("claims are not in core deterministic encoding")
	}
	return c, nil
}

// checkClaimKeys decodes the claims map's keys and refuses a missing required claim or an
// unknown one.
func checkClaimKeys(b []byte) (map[int64]cbor.RawMessage, error) {
	var keys map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	for _, k := range requiredClaims {
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("claim %d missing", k)
		}
	}
	for k := range keys {
		if !slices.Contains(requiredClaims, k) && !slices.Contains(optionalClaims, k) {
			return nil, fmt.Errorf("unknown claim %d", k)
		}
	}
	return keys, nil
}

// parseMeasurements reads the mode from dbgstat and the three digests from the one measurements
// entry.
func parseMeasurements(w claimsWire) (dice.Measurements, error) {
	var m dice.Measurements
	switch w.DbgStat {
	case dbgDisabledSinceBoot:
		m.Mode = dice.ModeNormal
	case dbgEnabled:
		m.Mode = dice.ModeDebug
	default:
		return m, fmt.Errorf("dbgstat %d: want 0 (enabled) or 2 (disabled since boot)", w.DbgStat)
	}
	if len(w.Measurements) != 1 || w.Measurements[0].ContentType != MeasurementsContentFormat {
		return m, fmt.Errorf("measurements: want one entry of content-format %d", MeasurementsContentFormat)
	}
	var meas map[string][]byte
	if err := decMode.Unmarshal(w.Measurements[0].Content, &meas); err != nil {
		return m, fmt.Errorf("measurements: %w", err)
	}
	if len(meas) != 3 {
		return m, fmt.Errorf("measurements: want %s, %s and %s", measRuntime, measConfig, measAuthority)
	}
	for name, dst := range map[string]*[dice.DigestSize]byte{
		measRuntime:   &m.Runtime,
		measConfig:    &m.Config,
		measAuthority: &m.Authority,
	} {
		v, ok := meas[name]
		if !ok || len(v) != dice.DigestSize {
			return m, fmt.Errorf("measurements: want %s as %d bytes", name, dice.DigestSize)
		}
		copy(dst[:], v)
	}
	return m, nil
}

// parseImages reads the installed images, each digest a SHA-256.
func parseImages(wire []imageWire) ([]Image, error) {
	var images []Image
	for _, im := range wire {
		var d ident.Digest
		if len(im.Digest) != len(d) {
			return nil, fmt.Errorf("image digest is %d bytes, want %d", len(im.Digest), len(d))
		}
		copy(d[:], im.Digest)
		images = append(images, Image{ID: im.ID, Digest: d})
	}
	return images, nil
}
