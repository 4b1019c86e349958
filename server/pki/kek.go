package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KEK is the service's key-encryption key: every private key the service keeps at rest (tenant
// CAs, later signing keys) is sealed with it, using AES-256-GCM with the key's purpose as
// additional data, so a sealed key cannot be passed off as another.
type KEK struct {
	aead   cipher.AEAD
	derive []byte // HMAC key for Derive, itself derived from the KEK
}

// KEKSize is the length of a key-encryption key in bytes; it is written as 64 hex characters.
const KEKSize = 32

// ParseKEK parses a key-encryption key written as 64 hex characters (surrounding space ignored).
func ParseKEK(text string) (*KEK, error) {
	key, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != KEKSize {
		// Never echo the text: it is a secret, even when malformed.
		return nil, errors.New("the key-encryption key must be 64 hex characters (make one with: openssl rand -hex 32)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rampart kek: derived keys"))
	return &KEK{aead: aead, derive: m.Sum(nil)}, nil
}

// Derive returns a 32-byte key for purpose, the same in every replica that holds this KEK (for
// example the key that authenticates attestation nonces, so that any replica can check a nonce
// another issued without storing it).
func (k *KEK) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, k.derive)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// LoadKEK reads a key-encryption key file, refusing one that others may read.
func LoadKEK(path string) (*KEK, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	k, err := ParseKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// MakeKEKFile writes a new random key-encryption key to path (mode 0600) unless one is there,
// and loads it. `rampart server --dev` uses it; production operators bring their own.
func MakeKEKFile(path string) (*KEK, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadKEK(path)
	}
	var key [KEKSize]byte
	rand.Read(key[:])
	if err := WriteFileAtomic(path, []byte(hex.EncodeToString(key[:])+"\n"), 0o600); err != nil {
		return nil, err
	}
	return LoadKEK(path)
}

// Seal encrypts plaintext for the given purpose (for example "tenant-ca:ID").
func (k *KEK) Seal(purpose string, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, []byte(purpose))
}

// ErrUnseal is returned when a sealed key does not open: another KEK, another purpose, or
// altered bytes.
var ErrUnseal = errors.New("sealed key does not open with this key-encryption key")

// Open decrypts what Seal made for the same purpose.
func (k *KEK) Open(purpose string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrUnseal
	}
	pt, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(purpose))
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}
