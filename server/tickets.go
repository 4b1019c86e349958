package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/server/pki"
)

// # TLS session tickets
//
// A fleet that reconnects at once (after the service restarts, or a network outage) should
// resume its TLS sessions rather than make a full handshake each. Go's server encrypts its
// session tickets under keys of its own process, so a restart or another replica cannot read
// them. The service encrypts them instead under keys derived from the key-encryption key, which
// every replica shares and which survives restarts: one key per ticketKeyPeriod, named by the
// period's number. A ticket is
//
//	period (8 bytes, big-endian) ‖ nonce (12) ‖ AES-256-GCM(key of period, session state)
//
// and is accepted while its period is the current or the previous one, so a key encrypts for
// one period and decrypts for two, and the keys rotate with the clock, on every replica alike,
// with nothing stored. Go still refuses a resumption whose client certificate has expired.
//
// Whoever holds the key-encryption key can read the tickets of the last two periods, as it can
// every key the service seals: tickets add nothing to what that key protects.

// ticketKeyPeriod is how long one session-ticket key encrypts new tickets.
const ticketKeyPeriod = 6 * time.Hour

const ticketKeyPurpose = "tls session tickets"

// sessionTickets sets cfg to encrypt and decrypt its session tickets under keys derived from kek
// (see above), with now as the clock (nil: time.Now).
func sessionTickets(cfg *tls.Config, kek *pki.KEK, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	aead := func(period int64) (cipher.AEAD, error) {
		block, err := aes.NewCipher(kek.Derive(fmt.Sprintf("%s %d", ticketKeyPurpose, period)))
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	}
	periodAt := func(t time.Time) int64 { return t.Unix() / int64(ticketKeyPeriod/time.Second) }
	cfg.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		state, err := ss.Bytes()
		if err != nil {
			return nil, err
		}
		period := periodAt(now())
		g, err := aead(period)
		if err != nil {
			return nil, err
		}
		ticket := binary.BigEndian.AppendUint64(nil, uint64(period))
		nonce := make([]byte, g.NonceSize())
		rand.Read(nonce)
		ticket = append(ticket, nonce...)
		return g.Seal(ticket, nonce, state, ticket[:8]), nil
	}
	cfg.UnwrapSession = func(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
		if len(ticket) < 8+12 {
			return nil, nil // not one of ours: a full handshake
		}
		period, current := int64(binary.BigEndian.Uint64(ticket)), periodAt(now())
		if period != current && period != current-1 {
			return nil, nil // its key has rotated out
		}
		g, err := aead(period)
		if err != nil {
			return nil, err
		}
		state, err := g.Open(nil, ticket[8:8+g.NonceSize()], ticket[8+g.NonceSize():], ticket[:8])
		if err != nil {
			return nil, nil // forged or damaged: a full handshake
		}
		ss, err := tls.ParseSessionState(state)
		if err != nil {
			return nil, nil // of another version of Go, say: a full handshake
		}
		return ss, nil
	}
}
