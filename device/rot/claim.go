package rot

import (
	"crypto/hkdf"
	"crypto/sha512"

	"github.com/rampart-iot/rampart/ident"
)

// ClaimCode derives the device's claim code from the UDS alone, so that it lasts as long as the
// device and nothing public (the device ID, a certificate) reveals it:
//
//	claim seed = HKDF(ikm = UDS, salt = "", info = "Rampart claim code", L = 12)
//
// rendered by [ident.NewClaimCode] (95 of its bits, and a check symbol). Stage 0 hands stage 1
// only the code's verifier, never the code or the UDS.
func ClaimCode(uds []byte) (ident.ClaimCode, error) {
	if err := checkUDS(uds); err != nil {
		return "", err
	}
	b, err := hkdf.Key(sha512.New, uds, nil, "Rampart claim code", ident.ClaimCodeSeedSize)
	if err != nil {
		panic("rot: HKDF: " + err.Error()) // only for an impossible output length
	}
	var seed [ident.ClaimCodeSeedSize]byte
	copy(seed[:], b)
	clear(b)
	return ident.NewClaimCode(seed), nil
}
