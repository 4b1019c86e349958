package boot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
)

// Runtime is what stage 0 measured of a slot's runtime, in one pass over its bytes.
type Runtime struct {
	SHA512 [64]byte // the DICE code measurement
	SHA256 ident.Digest
	Size   int64
}

// Verifier decides whether stage 0 may boot the runtime in a slot of dir, given its
// measurement, and returns the authority that vouches for it: the DICE authority input.
type Verifier interface {
	Verify(dir state.Dir, slot state.Slot, rt Runtime) (authority [64]byte, err error)
}

// FactoryVerifier accepts only the factory image pinned for a slot in boot.json.
type FactoryVerifier struct{ Boot state.Boot }

// Verify implements [Verifier].
func (v FactoryVerifier) Verify(_ state.Dir, slot state.Slot, rt Runtime) ([64]byte, error) {
	pin, ok := v.Boot.Factory[slot]
	if !ok {
		return [64]byte{}, fmt.Errorf("%w: slot %s has no pinned factory image", ErrUntrustedRuntime, slot)
	}
	if pin != rt.SHA512 {
		return [64]byte{}, fmt.Errorf("%w: the runtime in slot %s measures SHA-512 %x…, not the factory image pinned at init (%x…); refusing to start it: reinstall the factory runtime or initialise the device again",
			ErrUntrustedRuntime, slot, rt.SHA512[:8], pin[:8])
	}
	return FactoryAuthority, nil
}

// RuntimeVerifier is stage 0's verifier (DESIGN section 4): it accepts a slot's pinned factory
// image, as [FactoryVerifier] does, or a runtime that came from an image package of type
// runtime signed by one of Keys, the operator's runtime-signing keys learnt at init.
//
// For a signed runtime, the slot holds the package's header (package.hdr: the manifest and
// its signatures, as they were read from the package) next to the payload (runtime). Before
// every boot, the verifier checks again that a signature by one of Keys covers the manifest,
// that the manifest is of a runtime, and that the runtime's size and SHA-256 are the
// manifest's. The authority is then [SignerAuthority] of the key that signed.
type RuntimeVerifier struct {
	Boot state.Boot
	Keys []*ecdsa.PublicKey
}

// Verify implements [Verifier].
func (v RuntimeVerifier) Verify(dir state.Dir, slot state.Slot, rt Runtime) ([64]byte, error) {
	if pin, ok := v.Boot.Factory[slot]; ok && pin == rt.SHA512 {
		return FactoryAuthority, nil
	}
	h, err := ReadSlotHeader(dir, slot)
	if errors.Is(err, fs.ErrNotExist) {
		if pin, ok := v.Boot.Factory[slot]; ok {
			return [64]byte{}, fmt.Errorf("%w: the runtime in slot %s measures SHA-512 %x…: it is not the factory image pinned at init (%x…), nor a signed runtime (the slot has no package header); refusing to start it: reinstall the factory runtime or initialise the device again",
				ErrUntrustedRuntime, slot, rt.SHA512[:8], pin[:8])
		}
		return [64]byte{}, fmt.Errorf("%w: slot %s holds no factory image and no package header of a signed runtime", ErrUntrustedRuntime, slot)
	}
	if err != nil {
		return [64]byte{}, fmt.Errorf("%w: slot %s: %w", ErrUntrustedRuntime, slot, err)
	}
	if h.Manifest.Type != imagepkg.TypeRuntime {
		return [64]byte{}, fmt.Errorf("%w: slot %s holds a package of type %q, not a runtime", ErrUntrustedRuntime, slot, h.Manifest.Type)
	}
	trusted := make(map[string]*ecdsa.PublicKey, len(v.Keys))
	for _, k := range v.Keys {
		trusted[imagepkg.KeyID(k)] = k
	}
	keyID, err := h.Verify(trusted)
	if err != nil {
		return [64]byte{}, fmt.Errorf("%w: slot %s: the runtime's package is not signed by a runtime key learnt at init: %w", ErrUntrustedRuntime, slot, err)
	}
	key, ok := trusted[keyID]
	if !ok {
		return [64]byte{}, fmt.Errorf("%w: slot %s: signed by unknown key %.64s", ErrUntrustedRuntime, slot, keyID)
	}
	if h.Manifest.PayloadSize != rt.Size || h.Manifest.PayloadSHA256 != rt.SHA256 {
		return [64]byte{}, fmt.Errorf("%w: the runtime in slot %s (%d bytes, SHA-256 %x…) is not the payload its signed manifest names (%d bytes, SHA-256 %x…)",
			ErrUntrustedRuntime, slot, rt.Size, rt.SHA256[:8], h.Manifest.PayloadSize, h.Manifest.PayloadSHA256[:8])
	}
	return SignerAuthority(key), nil
}

// SignerAuthority is the DICE authority input of a runtime signed with key: the SHA-512 of the
// key's DER SubjectPublicKeyInfo.
func SignerAuthority(key *ecdsa.PublicKey) [64]byte {
	spki, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		panic("boot: marshal a P-256 public key: " + err.Error())
	}
	return sha512.Sum512(spki)
}

// ReadSlotHeader reads and parses the package header stored next to slot's runtime, refusing
// anything after the header. It checks no signature.
func ReadSlotHeader(dir state.Dir, slot state.Slot) (*imagepkg.Header, error) {
	b, err := state.ReadFile(dir.Package(slot), state.MaxFileSize)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(b)
	h, err := imagepkg.ReadHeader(r)
	if err != nil {
		return nil, fmt.Errorf("package header: %w", err)
	}
	if r.Len() != 0 {
		return nil, errors.New("package header: trailing data")
	}
	return h, nil
}

// measure returns the SHA-512, SHA-256 and size of the file at path.
func measure(path string) (Runtime, error) {
	var rt Runtime
	f, err := os.Open(path)
	if err != nil {
		return rt, err
	}
	defer f.Close()
	h512, h256 := sha512.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(h512, h256), io.LimitReader(f, MaxRuntimeSize+1))
	if err != nil {
		return rt, err
	}
	if n > MaxRuntimeSize {
		return rt, fmt.Errorf("%s is larger than %d bytes", path, MaxRuntimeSize)
	}
	h512.Sum(rt.SHA512[:0])
	h256.Sum(rt.SHA256[:0])
	rt.Size = n
	return rt, nil
}
