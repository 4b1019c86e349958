package rot

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrUDSExposed is returned by [LoadUDS] for a UDS file that group or others may access.
var ErrUDSExposed = errors.New("UDS file is accessible to group or others")

// CreateUDS makes a new UDS of [UDSSize] random bytes in a new file at path, with mode 0600,
// and syncs it to disk. It never overwrites: if path exists, it fails and leaves it alone.
func CreateUDS(path string) error {
	uds := make([]byte, UDSSize)
	defer clear(uds)
	for isZero(uds) {
		rand.Read(uds) // never fails
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create UDS: %w", err)
	}
	_, err = f.Write(uds)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // the file is ours: O_EXCL made it
		return fmt.Errorf("create UDS: %w", err)
	}
	// Make the new directory entry durable too.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadUDS reads the UDS from path. It refuses a file that group or others can access
// ([ErrUDSExposed]), one that is not exactly [UDSSize] bytes ([ErrBadUDS]) and an all-zero one
// ([ErrZeroUDS]).
func LoadUDS(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load UDS: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load UDS: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load UDS: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("load UDS: %w (mode %04o): run chmod 600 %s", ErrUDSExposed, perm, path)
	}
	uds := make([]byte, UDSSize+1)
	n, err := io.ReadFull(f, uds)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("load UDS: %w", err)
	}
	uds = uds[:n]
	if err := checkUDS(uds); err != nil {
		clear(uds)
		return nil, fmt.Errorf("load UDS %s: %w", path, err)
	}
	return uds, nil
}
