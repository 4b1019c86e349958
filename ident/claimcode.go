package ident

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// ClaimCode is the proof that whoever claims a device has had it in hand: a code that only the
// device (which derives it from its secret) and whoever reads it off the device or its label can
// know. Its canonical form is 20 Crockford base32 symbols in four groups of five,
// "XXXXX-XXXXX-XXXXX-XXXXX": 95 random bits and a check symbol, so that a mistyped code is refused
// when it is typed, not later when the device attests.
type ClaimCode string

// ClaimCodeSeedSize is how many bytes of secret [NewClaimCode] reads (it uses 95 bits of them).
const ClaimCodeSeedSize = 12

// crockford is Crockford's base32 alphabet: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

const claimCodeSymbols = 20

// NewClaimCode renders the first 95 bits of seed as a claim code.
func NewClaimCode(seed [ClaimCodeSeedSize]byte) ClaimCode {
	var sym [claimCodeSymbols]byte
	var acc uint64
	bits, in := 0, 0
	for i := range claimCodeSymbols - 1 {
		if bits < 5 {
			acc = acc<<8 | uint64(seed[in])
			in++
			bits += 8
		}
		sym[i] = crockford[(acc>>(bits-5))&31]
		bits -= 5
	}
	sym[claimCodeSymbols-1] = checkSymbol(sym[:claimCodeSymbols-1])
	return ClaimCode(group(sym[:]))
}

func checkSymbol(data []byte) byte {
	sum := sha256.Sum256(append([]byte("rampart claim code check\x00"), data...))
	return crockford[sum[0]>>3]
}

func group(sym []byte) string {
	var b strings.Builder
	for i, s := range sym {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(s)
	}
	return b.String()
}

// ErrClaimCode is the class of every error ParseClaimCode returns.
var ErrClaimCode = errors.New("invalid claim code")

// ParseClaimCode reads a claim code as a person may type it: in any case, with or without the
// hyphens (or spaces) between groups, with I and L read as 1 and O as 0, as Crockford base32
// allows. It refuses any other symbol, a wrong length and a wrong check symbol.
func ParseClaimCode(s string) (ClaimCode, error) {
	if len(s) > 64 {
		return "", fmt.Errorf("%w: longer than 64 characters", ErrClaimCode)
	}
	sym := make([]byte, 0, claimCodeSymbols)
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'I' || r == 'L':
			r = '1'
		case r == 'O':
			r = '0'
		}
		if r > 127 || !strings.ContainsRune(crockford, r) {
			return "", fmt.Errorf("%w: %q is not a claim-code symbol (0-9 and A-Z without U)", ErrClaimCode, r)
		}
		sym = append(sym, byte(r))
	}
	if len(sym) != claimCodeSymbols {
		return "", fmt.Errorf("%w: %d symbols, want %d (XXXXX-XXXXX-XXXXX-XXXXX)", ErrClaimCode, len(sym), claimCodeSymbols)
	}
	if checkSymbol(sym[:claimCodeSymbols-1]) != sym[claimCodeSymbols-1] {
		return "", fmt.Errorf("%w: it does not check; read it off the device or its label again", ErrClaimCode)
	}
	return ClaimCode(group(sym)), nil
}

func (c ClaimCode) String() string { return string(c) }

// ClaimVerifier is the SHA-256 of a claim code, domain-separated: what the service keeps of a
// code, and the key of the device's proof. It does not reveal the code, which has 95 random bits.
type ClaimVerifier [sha256.Size]byte

// Verifier returns the code's verifier. c must be canonical (from ParseClaimCode or NewClaimCode).
func (c ClaimCode) Verifier() ClaimVerifier {
	return sha256.Sum256([]byte("rampart claim code v1\x00" + string(c)))
}

// ClaimProof is what a device puts in its evidence to show which claim code it has: an HMAC of
// the nonce and the device ID keyed with the verifier, so that it is fresh for each attestation
// and names the device.
func ClaimProof(v ClaimVerifier, nonce []byte, device DeviceID) [sha256.Size]byte {
	m := hmac.New(sha256.New, v[:])
	m.Write([]byte("rampart claim proof v1\x00"))
	m.Write([]byte(device))
	m.Write(nonce)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// CheckClaimProof reports, in constant time, whether proof is the proof of verifier v for nonce
// and device.
func CheckClaimProof(v ClaimVerifier, nonce []byte, device DeviceID, proof []byte) bool {
	want := ClaimProof(v, nonce, device)
	return hmac.Equal(want[:], proof)
}
