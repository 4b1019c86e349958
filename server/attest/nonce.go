package attest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// Nonces are stateless: issuing one writes nothing, so anyone may ask for as many as the
// per-source limit allows without costing the store a row. A nonce is
//
//	expiry (8 bytes, Unix microseconds, big-endian) ‖ random (16) ‖ device tag (8) ‖ MAC (16)
//
// where the device tag is the first 8 bytes of the device ID it was issued for, and the MAC is
// HMAC-SHA-256, cut to 16 bytes, under a key derived from the key-encryption key (so every
// replica checks every replica's nonces) over "rampart nonce v1", the device ID, the expiry and
// the random bytes. A claimed device's attestation spends its nonce by storing it until it
// expires (store.UseNonce), so a nonce is good once.
const (
	NonceSize       = 48
	nonceKeyPurpose = "attestation nonces"
	macSize         = 16
)

func nonceMAC(key []byte, device ident.DeviceID, head []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rampart nonce v1\x00"))
	m.Write([]byte(device))
	m.Write(head)
	return m.Sum(nil)[:macSize]
}

func deviceTag(device ident.DeviceID) []byte {
	tag := make([]byte, 8)
	copy(tag, device)
	return tag
}

func issueNonce(key []byte, device ident.DeviceID, expires time.Time) []byte {
	n := make([]byte, 0, NonceSize)
	n = binary.BigEndian.AppendUint64(n, uint64(expires.UnixMicro()))
	random := make([]byte, 16)
	rand.Read(random)
	n = append(n, random...)
	n = append(n, deviceTag(device)...)
	return append(n, nonceMAC(key, device, n[:24])...)
}

// nonceExpiry returns when a nonce of the service's form expires (zero for any other).
func nonceExpiry(nonce []byte) time.Time {
	if len(nonce) != NonceSize {
		return time.Time{}
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(nonce))).UTC()
}

// checkNonce is step 3 without the store: the nonce is the service's, for this device, and
// not expired at now. Whether it was spent is checked when it is spent.
func checkNonce(key, nonce []byte, device ident.DeviceID, now time.Time) *Failure {
	if len(nonce) != NonceSize {
		return fail(api.ReasonStaleNonce, "the nonce is not one this service issued; ask for a new one")
	}
	if !hmac.Equal(nonce[24:32], deviceTag(device)) {
		return fail(api.ReasonNonceForOther, "the nonce was issued for another device")
	}
	if !hmac.Equal(nonce[32:], nonceMAC(key, device, nonce[:24])) {
		return fail(api.ReasonStaleNonce, "the nonce is not one this service issued; ask for a new one")
	}
	if expires := nonceExpiry(nonce); !now.Before(expires) {
		return fail(api.ReasonStaleNonce, "the nonce expired at %s; ask for a new one", expires.Format(time.RFC3339))
	}
	return nil
}
