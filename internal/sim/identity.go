package sim

import (
	"crypto/ecdsa"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/evidence"
	"github.com/rampart-iot/rampart/ident"
)

// Device is one simulated device. Its identity is derived lazily, as the software root of
// trust derives it (package rot): the UDS from the fleet's seed and the device's index, the
// DeviceID key and claim code from the UDS when the device is first named, and the Alias key
// and certificate from CDI_Attest when it first attests.
type Device struct {
	Index int

	once     sync.Once
	uds      [rot.UDSSize]byte
	id       ident.DeviceID
	spki     []byte // DeviceID public key, DER SubjectPublicKeyInfo
	code     ident.ClaimCode
	verifier ident.ClaimVerifier
	idErr    error

	mu        sync.Mutex
	deviceKey *ecdsa.PrivateKey
	alias     *ecdsa.PrivateKey
	aliasCert []byte
	meas      rot.Measurements
	cert      *tls.Certificate // the device certificate and its CA chain, once attested
	certUntil time.Time
	sessions  tls.ClientSessionCache
	tuf       map[string]*repoState // by repository name: what the device trusts
	reported  bool                  // the device sent its update report
	etag      string                // the update info's ETag after the last complete check-in
}

// repoState is what a device keeps of a TUF repository: the versions it trusts.
type repoState struct {
	root, timestamp, snapshot, targets int64
}

// udsInfo is the HKDF label of a simulated device's UDS.
const udsInfo = "rampart-sim UDS"

// newDevice returns device index of the fleet that seed names; nothing is derived yet.
func newDevice(seed []byte, index int) *Device {
	d := &Device{Index: index}
	var info [8]byte
	binary.BigEndian.PutUint64(info[:], uint64(index))
	b, err := hkdf.Key(sha512.New, seed, nil, udsInfo+string(info[:]), rot.UDSSize)
	if err != nil {
		panic("sim: HKDF: " + err.Error()) // only for an impossible length
	}
	copy(d.uds[:], b)
	return d
}

// ensureID derives the DeviceID key, the device ID and the claim code: one P-256 scalar
// multiplication and a few HKDFs.
func (d *Device) ensureID() error {
	d.once.Do(func() {
		key, err := rot.DeviceIDKey(d.uds[:])
		if err != nil {
			d.idErr = err
			return
		}
		spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			d.idErr = err
			return
		}
		code, err := rot.ClaimCode(d.uds[:])
		if err != nil {
			d.idErr = err
			return
		}
		d.deviceKey, d.spki, d.id, d.code = key, spki, ident.DeviceIDFromPublicKey(spki), code
		d.verifier = code.Verifier()
	})
	return d.idErr
}

// ID returns the device ID (the SHA-256 of the DeviceID key), deriving it on first use.
func (d *Device) ID() ident.DeviceID {
	if err := d.ensureID(); err != nil {
		panic("sim: derive the device identity: " + err.Error()) // the UDS is never zero or short
	}
	return d.id
}

// ClaimCode returns the device's claim code, as its label would show it.
func (d *Device) ClaimCode() ident.ClaimCode {
	d.ID()
	return d.code
}

// ensureAlias derives the Alias key and certificate for runtime, as stage 0 does for the
// measured runtime: CDI_Attest from the UDS and the inputs, the Alias key from CDI_Attest, and
// the certificate signed by the DeviceID key. It holds d.mu.
func (d *Device) ensureAlias(serviceURL string, caDigest ident.Digest, runtime [64]byte) error {
	if d.alias != nil && d.meas.Runtime == runtime {
		return nil
	}
	d.ID()
	dev := state.Device{ServiceURL: serviceURL, DeviceID: d.id, ServiceCA: state.FileServiceCA, ServiceCASHA256: caDigest}
	in := rot.Inputs{Code: runtime, Config: dev.ConfigMeasurement(), Authority: simAuthority, Mode: rot.ModeNormal}
	l, err := rot.DeriveLayer(d.uds[:], in)
	if err != nil {
		return fmt.Errorf("derive the alias key: %w", err)
	}
	cert, err := rot.AliasCertificate(d.deviceKey, l.AliasKey, in.Measurements())
	if err != nil {
		return err
	}
	d.alias, d.aliasCert, d.meas = l.AliasKey, cert, in.Measurements()
	return nil
}

// simAuthority is the DICE authority input of every simulated boot: the SHA-512 of a name, as
// a device's is of the key that vouched for its runtime.
var simAuthority = sha512.Sum512([]byte("rampart-sim runtime authority"))

// evidence returns the device's attestation token for nonce, with the proof of its claim code.
func (d *Device) evidence(nonce []byte, now time.Time) ([]byte, error) {
	proof := ident.ClaimProof(d.verifier, nonce, d.id)
	c := evidence.Claims{Nonce: nonce, DeviceKey: d.spki, IssuedAt: now, Measurements: d.meas, ClaimProof: proof[:]}
	return evidence.Sign(c, d.alias, d.aliasCert)
}

// Seed turns the --seed text into the fleet's secret seed.
func Seed(s string) []byte {
	sum := sha256.Sum256([]byte("rampart-sim seed\x00" + s))
	return sum[:]
}
