package rot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha512"
	"errors"
	"fmt"
)

var (
	// ErrBadUDS is returned for a UDS that is not [UDSSize] bytes long.
	ErrBadUDS = errors.New("UDS must be 32 bytes")
	// ErrZeroUDS is returned for an all-zero UDS, which is what an unprovisioned part holds:
	// the Open Profile for DICE forbids deriving a provisioned device's identity from it.
	ErrZeroUDS = errors.New("UDS is all zero: the device is not provisioned")
	// ErrBadMode is returned for a DICE mode outside the four defined ones.
	ErrBadMode = errors.New("invalid DICE mode")
)

// keyInfo prefixes the HKDF info of every scalar candidate in [KeyFromSeed].
const keyInfo = "Rampart P-256 key"

// p256Order is n, the order of the P-256 group, as 32 big-endian bytes.
var p256Order = elliptic.P256().Params().N.FillBytes(make([]byte, 32))

// KeyFromSeed derives an ECDSA P-256 private key from a seed, deterministically: the same
// seed always gives the same key. See the package doc for the construction.
func KeyFromSeed(seed [32]byte) *ecdsa.PrivateKey {
	return keyFromCandidates(func(i byte) []byte {
		d, err := hkdf.Expand(sha512.New, seed[:], keyInfo+string([]byte{i}), 32)
		if err != nil {
			panic("rot: HKDF: " + err.Error()) // only for an impossible output length
		}
		return d
	})
}

// keyFromCandidates returns the key whose scalar is the first candidate in [1, n).
func keyFromCandidates(candidate func(i byte) []byte) *ecdsa.PrivateKey {
	for i := range 256 {
		d := candidate(byte(i))
		if isZero(d) || bytes.Compare(d, p256Order) >= 0 {
			continue
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			panic("rot: P-256 scalar in range refused: " + err.Error())
		}
		return k
	}
	// 256 candidates out of range has probability below 2^-8000.
	panic("rot: no P-256 scalar found")
}

// DeviceIDKey derives the DeviceID key from the UDS alone. It is the device's identity for
// life: its SHA-256 is the device ID.
func DeviceIDKey(uds []byte) (*ecdsa.PrivateKey, error) {
	if err := checkUDS(uds); err != nil {
		return nil, err
	}
	return KeyFromSeed(KeySeed(uds)), nil
}

// Layer holds what stage 0 derives for the layer it measured. CDIAttest and CDISeal are handed
// to that layer; AliasKey is its attestation key, which the DeviceID key certifies with
// [AliasCertificate].
type Layer struct {
	CDIAttest [CDISize]byte
	CDISeal   [CDISize]byte
	AliasKey  *ecdsa.PrivateKey // KeyFromSeed(KeySeed(CDIAttest))
}

// DeriveLayer derives the first layer's CDIs and Alias key from the UDS and the layer's inputs.
func DeriveLayer(uds []byte, in Inputs) (Layer, error) {
	if err := checkUDS(uds); err != nil {
		return Layer{}, err
	}
	if in.Mode > ModeRecovery {
		return Layer{}, fmt.Errorf("%w %d", ErrBadMode, uint8(in.Mode))
	}
	l := Layer{CDIAttest: CDIAttest(uds, in), CDISeal: CDISeal(uds, in)}
	l.AliasKey = KeyFromSeed(KeySeed(l.CDIAttest[:]))
	return l, nil
}

func checkUDS(uds []byte) error {
	if len(uds) != UDSSize {
		return ErrBadUDS
	}
	if isZero(uds) {
		return ErrZeroUDS
	}
	return nil
}

func isZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
