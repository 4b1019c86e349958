package apphost

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
)

// Sealed storage: every file of an app's storage is sealed with AES-256-GCM under a key of
// its own app, derived from the runtime's storage key (Options.StorageKey):
//
//	key  = HKDF-SHA256(storage key, salt none, info = "Rampart app storage " ‖ component ID, 32 bytes)
//	file = "\x89RSEALED" ‖ version 1 ‖ nonce (12 random bytes) ‖ AES-GCM(key, nonce, data, ad)
//	ad   = "Rampart app storage" ‖ 0 ‖ component ID ‖ 0 ‖ file name
//
// A fresh nonce per write; the component ID and the file name are authenticated with the data,
// so a file copied to another app, or renamed, does not open. A file that does not open —
// planted in the state folder, written under another storage key, or changed — is never
// passed to the app: the host logs it in the app's log, reports it ([EventStorageRefused])
// and removes it. SizeKB counts the apps' bytes; the header and tag ([SealOverhead] bytes a
// file) are the host's and not counted.

// SealOverhead is what sealing adds to each file: the header (magic, version, nonce) and the
// GCM tag.
const SealOverhead = len(sealMagic) + 1 + sealNonceSize + sealTagSize

const (
	sealMagic     = "\x89RSEALED" // no text file starts with 0x89
	sealVersion   = 1
	sealNonceSize = 12
	sealTagSize   = 16
	sealADPrefix  = "Rampart app storage"
	// maxSealedFile bounds what is read of one storage file: the largest quota, sealed.
	maxSealedFile = int64(manifest.MaxStorageKB*1024 + SealOverhead)
)

// Errors of opening a storage file.
var (
	// ErrPlaintext: the file has no sealed header (it was written before storage was sealed).
	ErrPlaintext = errors.New("not sealed")
	// ErrNotAuthentic: the file does not open under this app's key for this name.
	ErrNotAuthentic = errors.New("does not authenticate under this runtime's storage key for this app and file name")
)

// errNotWritten is a plain file found after the migration: written to the state folder, not
// through an app.
var errNotWritten = errors.New("not sealed: written to the state folder, not by the app")

// appKey derives app cid's storage key.
func appKey(storageKey []byte, cid string) (cipher.AEAD, error) {
	if len(storageKey) < 32 {
		return nil, errors.New("no storage key")
	}
	k, err := hkdf.Key(sha256.New, storageKey, nil, "Rampart app storage "+cid, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func sealAD(cid, name string) []byte {
	return []byte(sealADPrefix + "\x00" + cid + "\x00" + name)
}

// sealFile returns data sealed as file name of app cid.
func sealFile(storageKey []byte, cid, name string, data []byte) ([]byte, error) {
	aead, err := appKey(storageKey, cid)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, SealOverhead+len(data))
	out = append(out, sealMagic...)
	out = append(out, sealVersion)
	nonce := make([]byte, sealNonceSize)
	rand.Read(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, data, sealAD(cid, name)), nil
}

// openFile returns the data of b, sealed as file name of app cid: ErrPlaintext for a file
// without the sealed header, ErrNotAuthentic for one that does not open.
func openFile(storageKey []byte, cid, name string, b []byte) ([]byte, error) {
	if !strings.HasPrefix(string(b[:min(len(b), len(sealMagic))]), sealMagic) {
		return nil, ErrPlaintext
	}
	if len(b) < SealOverhead || b[len(sealMagic)] != sealVersion {
		return nil, ErrNotAuthentic
	}
	aead, err := appKey(storageKey, cid)
	if err != nil {
		return nil, err
	}
	nonce := b[len(sealMagic)+1 : len(sealMagic)+1+sealNonceSize]
	data, err := aead.Open(nil, nonce, b[len(sealMagic)+1+sealNonceSize:], sealAD(cid, name))
	if err != nil {
		return nil, ErrNotAuthentic
	}
	return data, nil
}

// readSealed reads and opens the file at path, of app cid.
func readSealed(storageKey []byte, cid, path string) ([]byte, error) {
	b, err := state.ReadFile(path, maxSealedFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().IsRegular() && fi.Size() > maxSealedFile {
			return nil, ErrNotAuthentic // no sealed file is this large
		}
		return nil, err
	}
	return openFile(storageKey, cid, filepath.Base(path), b)
}

// WriteStorageFile seals data as file name of app cid's storage in the state folder dir, under
// storageKey, and writes it atomically. It checks no quota: it is how a file reaches an app's
// storage other than through the app (provisioning, tests).
func WriteStorageFile(dir string, storageKey []byte, cid, name string, data []byte) error {
	if !ValidStorageName(name) {
		return fmt.Errorf("storage file name %q: want 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'", name)
	}
	b, err := sealFile(storageKey, cid, name, data)
	if err != nil {
		return err
	}
	folder := filepath.Join(dir, DirAppData, cid)
	if err := os.MkdirAll(folder, 0o700); err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(folder, name), b, 0o600)
}

// ReadStorageFile reads and opens file name of app cid's storage in the state folder dir.
func ReadStorageFile(dir string, storageKey []byte, cid, name string) ([]byte, error) {
	if !ValidStorageName(name) {
		return nil, fmt.Errorf("storage file name %q: invalid", name)
	}
	return readSealed(storageKey, cid, filepath.Join(dir, DirAppData, cid, name))
}

// Refused is a storage file that [SealStorage] removed.
type Refused struct {
	ComponentID string
	Name        string
	Err         error
}

// SealStorage checks every app's storage in the state folder dir before the host runs: a
// file that does not open under storageKey is removed and returned; a file without the
// sealed header is sealed in place if migrate (the first start of a runtime that seals
// storage: the files of the runtime before it are plain) and removed and returned otherwise.
// It returns how many files it sealed.
func SealStorage(dir string, storageKey []byte, migrate bool) (migrated int, refused []Refused, err error) {
	apps, err := os.ReadDir(filepath.Join(dir, DirAppData))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("app storage: %w", err)
	}
	for _, a := range apps {
		if !a.IsDir() {
			continue
		}
		cid := a.Name()
		folder := filepath.Join(dir, DirAppData, cid)
		cleanStorage(folder)
		files, err := os.ReadDir(folder)
		if err != nil {
			return migrated, refused, fmt.Errorf("app storage: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(folder, f.Name())
			_, err := readSealed(storageKey, cid, path)
			switch {
			case err == nil:
				continue
			case errors.Is(err, ErrPlaintext) && migrate && ValidStorageName(f.Name()):
				b, rerr := state.ReadFile(path, maxSealedFile)
				if rerr == nil {
					if rerr = WriteStorageFile(dir, storageKey, cid, f.Name(), b); rerr == nil {
						migrated++
						continue
					}
				}
				err = rerr
			case errors.Is(err, ErrPlaintext):
				err = errNotWritten
			}
			refused = append(refused, Refused{cid, f.Name(), err})
			if errors.Is(err, ErrNotAuthentic) || err == errNotWritten {
				if rerr := os.Remove(path); rerr != nil {
					return migrated, refused, fmt.Errorf("app storage: %w", rerr)
				}
			}
		}
	}
	return migrated, refused, nil
}

// ResetStorage removes every app's storage in the state folder dir: what was sealed under a
// storage key that the runtime no longer has.
func ResetStorage(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, DirAppData)); err != nil {
		return fmt.Errorf("reset app storage: %w", err)
	}
	return nil
}

// Errors of [Host.PutStorage].
var (
	ErrNoStorage    = errors.New("the app's manifest grants no MutableStorage")
	ErrStorageQuota = errors.New("the file would take the app's storage past its SizeKB or MaxFiles")
)

// PutStorage seals data as file name of the storage of the app named app (or with that
// component ID), within its quota: how the device's owner gives an app a file (its
// configuration, say), through the control socket. A file put in the state folder by hand is
// refused. The app sees the file when it next reads it.
func (h *Host) PutStorage(app, name string, data []byte) error {
	a, err := h.lookup(app)
	if err != nil {
		return err
	}
	if !ValidStorageName(name) {
		return fmt.Errorf("storage file name %q: want 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'", name)
	}
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img == nil || img.manifest == nil || img.quota() < 0 {
		return ErrNoStorage
	}
	sizes, err := usage(a.dataDir())
	if err != nil {
		return fmt.Errorf("app storage: %w", err)
	}
	total := int64(len(data))
	for n, s := range sizes {
		if n != name {
			total += s
		}
	}
	if _, exists := sizes[name]; total > img.quota() || !exists && len(sizes) >= MaxFiles {
		return ErrStorageQuota
	}
	if len(h.opt.StorageKey) < 32 {
		return errors.New("the runtime has no storage key")
	}
	return WriteStorageFile(h.dir, h.opt.StorageKey, a.cid, name, data)
}
