package state

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// FileStorageKeyID names the storage key that the sealed data of the state folder (apps'
// storage, the event queue) is sealed under: hex(HMAC-SHA256(storage key, "Rampart storage key
// ID")), which says nothing of the key. Stage 1 writes it once that data is sealed: a runtime
// that finds another ID has another key, and the data is lost to it; one that finds none is the
// first to seal (the files before it are plain).
const FileStorageKeyID = "storage-key-id"

// StorageKeyID returns the ID of a storage key.
func StorageKeyID(storageKey []byte) string {
	m := hmac.New(sha256.New, storageKey)
	m.Write([]byte("Rampart storage key ID"))
	return hex.EncodeToString(m.Sum(nil))
}

// ReadStorageKeyID reads storage-key-id (fs.ErrNotExist if there is none).
func (d Dir) ReadStorageKeyID() (string, error) {
	b, err := ReadFile(d.Path(FileStorageKeyID), 128)
	if err != nil {
		return "", err
	}
	id := string(bytes.TrimSuffix(b, []byte{'\n'}))
	if _, err := hex.DecodeString(id); err != nil || len(id) != 2*sha256.Size {
		return "", errors.New(FileStorageKeyID + ": not a storage key ID")
	}
	return id, nil
}

// WriteStorageKeyID writes storage-key-id.
func (d Dir) WriteStorageKeyID(id string) error {
	if err := WriteFile(d.Path(FileStorageKeyID), []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", FileStorageKeyID, err)
	}
	return nil
}
