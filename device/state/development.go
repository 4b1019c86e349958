package state

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/ident"
)

// Files of the development capability and the keys that check it.
const (
	// FileTenantKeys holds the tenant's image-signing public keys (PEM), as the last update
	// info gave them: they sign the tenant's image packages and its capabilities. Stage 1
	// writes it at each check-in; stage 0 reads it to check capability.json.
	FileTenantKeys = "tenant-keys.pem"
	// FileCapability holds the development capability (format/capability's wire form), while
	// the service says the device has one.
	FileCapability = "capability.json"
	// FileAppCA, if present, holds CA certificates (PEM) that apps' TLS connections trust besides
	// the system's roots: for a broker whose certificate comes from a private CA. The device's
	// owner puts it there; nothing over the network writes it.
	FileAppCA = "app-ca.pem"
)

// MaxTenantKeys bounds tenant-keys.pem.
const MaxTenantKeys = MaxRuntimeKeys

// ParseTenantKeys parses tenant-keys.pem: one or more PEM ECDSA P-256 public keys. It returns
// them by key ID (hex SHA-256 of the SubjectPublicKeyInfo, as imagepkg and capability name
// keys).
func ParseTenantKeys(b []byte) (map[string]*ecdsa.PublicKey, error) {
	keys, err := ParseRuntimeKeys(b)
	if err != nil {
		return nil, fmt.Errorf("tenant keys: %s", strings.TrimPrefix(err.Error(), "runtime keys: "))
	}
	out := make(map[string]*ecdsa.PublicKey, len(keys))
	for _, k := range keys {
		out[capability.KeyID(k)] = k
	}
	return out, nil
}

// ReadTenantKeys reads tenant-keys.pem. A device that has not checked in yet has none: it
// returns nil and no error.
func (d Dir) ReadTenantKeys() (map[string]*ecdsa.PublicKey, error) {
	b, err := ReadFile(d.Path(FileTenantKeys), MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := ParseTenantKeys(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Path(FileTenantKeys), err)
	}
	return keys, nil
}

// WriteTenantKeys checks the PEM keys and writes them as tenant-keys.pem, unless the file holds
// them already. It reports whether it changed the file.
func (d Dir) WriteTenantKeys(pems []string) (bool, error) {
	var b bytes.Buffer
	for _, p := range pems {
		b.WriteString(strings.TrimSpace(p))
		b.WriteByte('\n')
	}
	if _, err := ParseTenantKeys(b.Bytes()); err != nil {
		return false, err
	}
	if old, err := ReadFile(d.Path(FileTenantKeys), MaxFileSize); err == nil && bytes.Equal(old, b.Bytes()) {
		return false, nil
	}
	return true, WriteFile(d.Path(FileTenantKeys), b.Bytes(), 0o600)
}

// ReadCapability returns the bytes of capability.json, unchecked; fs.ErrNotExist without one.
func (d Dir) ReadCapability() ([]byte, error) {
	return ReadFile(d.Path(FileCapability), capability.MaxSize)
}

// WriteCapability stores a capability the caller has checked, unless the file holds it
// already. It reports whether it changed the file.
func (d Dir) WriteCapability(b []byte) (bool, error) {
	if old, err := d.ReadCapability(); err == nil && bytes.Equal(old, b) {
		return false, nil
	}
	return true, WriteFile(d.Path(FileCapability), b, 0o600)
}

// RemoveCapability deletes capability.json, and reports whether there was one.
func (d Dir) RemoveCapability() (bool, error) {
	err := os.Remove(d.Path(FileCapability))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, SyncDir(string(d))
}

// ErrNoCapability is returned by [Dir.Development] when the device holds no development
// capability.
var ErrNoCapability = errors.New("this device holds no development capability")

// Development returns the development capability the device holds, checked now: capability.json
// must be signed by one of the tenant keys in tenant-keys.pem and name device. It returns
// [ErrNoCapability] without capability.json, and an error wrapping capability.ErrInvalid (or
// the reason the keys cannot be read) for one that does not check.
//
// Every use checks again, rather than trusting that the file was checked when it was written:
// stage 0 decides the DICE mode with it, stage 1 which image signatures it accepts.
func (d Dir) Development(device ident.DeviceID) (*capability.Development, error) {
	b, err := d.ReadCapability()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCapability
	}
	if err != nil {
		return nil, fmt.Errorf("development capability: %w", err)
	}
	keys, err := d.ReadTenantKeys()
	if err != nil {
		return nil, fmt.Errorf("development capability: %w", err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("development capability: %w: no tenant keys to check it with (%s)", capability.ErrInvalid, FileTenantKeys)
	}
	c, err := capability.Verify(b, keys, device)
	if err != nil {
		return nil, fmt.Errorf("development capability: %w", err)
	}
	return c, nil
}
