// Package rot is Rampart's software root of trust: it keeps the Unique Device Secret (UDS) and
// derives from it, following the Open Profile for DICE (google/open-dice,
// docs/specification.md), the secrets and keys through which a device speaks for itself.
//
// Only stage 0 calls this package with the UDS. Everything after stage 0 receives a CDI, never
// the UDS, so a different or tampered stage 1 receives a different CDI and cannot act as the
// device that booted the genuine one. The package uses the standard library only, besides
// Rampart's [github.com/rampart-iot/rampart/format/dice] for the certificate extension and
// [github.com/rampart-iot/rampart/ident] for the device ID, because it is the centre of the
// device's trusted computing base.
//
// The software root is for development: its secret is a file. The production root on Linux
// devices is a TPM 2.0, in package [github.com/rampart-iot/rampart/device/rot/tpm], whose keys
// never leave the chip. Both give stage 1 the same things: an identity key whose SHA-256 is the
// device ID, a signer for the evidence and the device certificate (the Alias key, or a TPM
// signing key certified by the TPM's attestation key), and the measurements of the runtime
// (certified in the Alias certificate, or recorded in a PCR and its event log).
//
// # Derivations
//
// H is SHA-512 and HKDF is HKDF-SHA512 (RFC 5869, extract then expand), exactly as in the Open
// Profile for DICE:
//
//	CDI_Attest' = HKDF(ikm = CDI_Attest, salt = H(code ‖ config ‖ authority ‖ mode ‖ hidden), info = "CDI_Attest", L = 32)
//	CDI_Seal'   = HKDF(ikm = CDI_Seal,   salt = H(authority ‖ mode ‖ hidden),                 info = "CDI_Seal",   L = 32)
//	key seed    = HKDF(ikm = CDI,        salt = ASYM_SALT, info = "Key Pair", L = 32)
//	identifier  = HKDF(ikm = public key, salt = ID_SALT,   info = "ID",       L = 20), top bit cleared
//
// At the first layer both input CDIs are the UDS. The tests reproduce open-dice's known answers
// (testdata/open-dice.json). Rampart adds one derivation of its own, from the UDS alone, with a
// label no DICE derivation uses: the claim code ([ClaimCode]), which proves to the service that
// whoever claims the device has it in hand.
//
// # Keys
//
// All keys are ECDSA P-256. The standard library's key generation ignores a caller's
// randomness, so [KeyFromSeed] derives the private scalar itself, by rejection sampling in the
// manner of FIPS 186-5 A.2.2:
//
//	d_i = HKDF-Expand(SHA-512, PRK = seed, info = "Rampart P-256 key" ‖ byte(i), L = 32)
//
// for i = 0, 1, …, 255, read as a big-endian integer; the first d_i with 1 ≤ d_i < n (the order
// of the P-256 group) is the private key. A candidate is rejected with probability below 2⁻³²,
// so the first one is taken all but always.
//
// The DeviceID key is derived from the UDS alone ([DeviceIDKey]), like open-dice's UDS key: it
// lasts as long as the device, and the device ID is the SHA-256 of its public key. The Alias
// key is derived from CDI_Attest ([DeriveLayer]) and so changes whenever the measured code,
// configuration, authority or mode change. The DeviceID key certifies the Alias key, with the
// measurements, in an Alias certificate ([AliasCertificate]).
//
// # The UDS
//
// The UDS is 32 bytes from crypto/rand, made once ([CreateUDS]) in a file of mode 0600 that is
// never overwritten, and read back by [LoadUDS], which refuses a file that is the wrong size,
// all zero (what an unprovisioned part holds), or readable by anyone but its owner. The UDS
// never appears in an error message.
package rot

import (
	"crypto/hkdf"
	"crypto/sha512"

	"github.com/rampart-iot/rampart/format/dice"
)

// UDSSize is the size of the Unique Device Secret, in bytes.
const UDSSize = 32

// CDISize is the size of a Compound Device Identifier, in bytes.
const CDISize = 32

// Mode is the DICE mode of the layer being measured: open-dice's values, shared with the
// service through format/dice. A Rampart device boots in ModeNormal, or in ModeDebug while it
// holds the development capability.
type Mode = dice.Mode

// The DICE modes.
const (
	ModeNotConfigured = dice.ModeNotConfigured
	ModeNormal        = dice.ModeNormal
	ModeDebug         = dice.ModeDebug
	ModeRecovery      = dice.ModeRecovery
)

// Inputs are the DICE input values of the next layer.
type Inputs struct {
	Code      [64]byte // SHA-512 of the next layer's code
	Config    [64]byte // the next layer's configuration value (or its SHA-512)
	Authority [64]byte // SHA-512 of the authority (key) that vouched for the code
	Hidden    [64]byte // a value that enters CDIs but is never disclosed
	Mode      Mode
}

// Measurements returns the public part of in: everything but Hidden.
func (in Inputs) Measurements() Measurements {
	return Measurements{Runtime: in.Code, Config: in.Config, Authority: in.Authority, Mode: in.Mode}
}

// ASYM_SALT and ID_SALT of the Open Profile for DICE.
var (
	asymSalt = [64]byte{
		0x63, 0xb6, 0xa0, 0x4d, 0x2c, 0x07, 0x7f, 0xc1, 0x0f, 0x63, 0x9f, 0x21, 0xda, 0x79, 0x38, 0x44,
		0x35, 0x6c, 0xc2, 0xb0, 0xb4, 0x41, 0xb3, 0xa7, 0x71, 0x24, 0x03, 0x5c, 0x03, 0xf8, 0xe1, 0xbe,
		0x60, 0x35, 0xd3, 0x1f, 0x28, 0x28, 0x21, 0xa7, 0x45, 0x0a, 0x02, 0x22, 0x2a, 0xb1, 0xb3, 0xcf,
		0xf1, 0x67, 0x9b, 0x05, 0xab, 0x1c, 0xa5, 0xd1, 0xaf, 0xfb, 0x78, 0x9c, 0xcd, 0x2b, 0x0b, 0x3b,
	}
	idSalt = [64]byte{
		0xdb, 0xdb, 0xae, 0xbc, 0x80, 0x20, 0xda, 0x9f, 0xf0, 0xdd, 0x5a, 0x24, 0xc8, 0x3a, 0xa5, 0xa5,
		0x42, 0x86, 0xdf, 0xc2, 0x63, 0x03, 0x1e, 0x32, 0x9b, 0x4d, 0xa1, 0x48, 0x43, 0x06, 0x59, 0xfe,
		0x62, 0xcd, 0xb5, 0xb7, 0xe1, 0xe0, 0x0f, 0xc6, 0x80, 0x30, 0x67, 0x11, 0xeb, 0x44, 0x4a, 0xf7,
		0x72, 0x09, 0x35, 0x94, 0x96, 0xfc, 0xff, 0x1d, 0xb9, 0x52, 0x0b, 0xa5, 0x1c, 0x7b, 0x29, 0xea,
	}
)

// CDIAttest derives the next layer's attestation CDI from this layer's CDI_Attest (the UDS at
// the first layer). It changes with every input.
func CDIAttest(cdi []byte, in Inputs) [CDISize]byte {
	h := sha512.New()
	h.Write(in.Code[:])
	h.Write(in.Config[:])
	h.Write(in.Authority[:])
	h.Write([]byte{byte(in.Mode)})
	h.Write(in.Hidden[:])
	return derive32(cdi, h.Sum(nil), "CDI_Attest")
}

// CDISeal derives the next layer's sealing CDI from this layer's CDI_Seal (the UDS at the
// first layer). It does not depend on the code or configuration, so data sealed with it
// survives an update signed by the same authority.
func CDISeal(cdi []byte, in Inputs) [CDISize]byte {
	h := sha512.New()
	h.Write(in.Authority[:])
	h.Write([]byte{byte(in.Mode)})
	h.Write(in.Hidden[:])
	return derive32(cdi, h.Sum(nil), "CDI_Seal")
}

// KeySeed derives the seed of a layer's asymmetric key from a CDI (or, for the DeviceID key,
// from the UDS).
func KeySeed(cdi []byte) [32]byte {
	return derive32(cdi, asymSalt[:], "Key Pair")
}

// Identifier derives the 20-byte DICE identifier of a public key, with its top bit cleared so
// that it reads as a positive number. Rampart passes the key's uncompressed SEC 1 point.
func Identifier(pub []byte) [20]byte {
	var id [20]byte
	b, err := hkdf.Key(sha512.New, pub, idSalt[:], "ID", len(id))
	if err != nil {
		panic("rot: HKDF: " + err.Error()) // only for an impossible output length
	}
	copy(id[:], b)
	id[0] &= 0x7f
	return id
}

func derive32(ikm, salt []byte, info string) [32]byte {
	var out [32]byte
	b, err := hkdf.Key(sha512.New, ikm, salt, info, len(out))
	if err != nil {
		panic("rot: HKDF: " + err.Error()) // only for an impossible output length
	}
	copy(out[:], b)
	return out
}
