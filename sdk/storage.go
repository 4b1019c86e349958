package sdk

import (
	"runtime"
	"strings"
)

// Storage is the app's private, persistent storage: a flat set of named files that survives
// restarts and updates of the app and that no other app can see. It needs the MutableStorage
// capability; the sum of the files' sizes may not exceed its SizeKB.
//
// A name is 1 to 64 of A–Z a–z 0–9 '.' '_' '-', not starting with '.'. A write replaces the
// whole file atomically.
var Storage Store

// Store is the type of [Storage].
type Store struct{}

// MaxFiles is the most files an app may keep, whatever its quota.
const MaxFiles = 256

// Write replaces the file name with data. It returns [ErrQuota] if the store would grow past
// the manifest's SizeKB.
func (Store) Write(name string, data []byte) error {
	_, err := check(hostStorageWrite(strPtr(name), uint32(len(name)), bytesPtr(data), uint32(len(data))))
	runtime.KeepAlive(name)
	runtime.KeepAlive(data)
	return err
}

// Read returns the contents of the file name, or [ErrNotFound].
func (Store) Read(name string) ([]byte, error) {
	for try := 0; ; try++ {
		size, err := check(hostStorageSize(strPtr(name), uint32(len(name))))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := check(hostStorageRead(strPtr(name), uint32(len(name)), bytesPtr(buf), uint32(len(buf))))
		runtime.KeepAlive(name)
		if err == ErrTooSmall && try < 2 {
			continue // it grew in between
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// Delete removes the file name, or returns [ErrNotFound].
func (Store) Delete(name string) error {
	_, err := check(hostStorageDelete(strPtr(name), uint32(len(name))))
	runtime.KeepAlive(name)
	return err
}

// List returns the names of the app's files, sorted.
func (Store) List() ([]string, error) {
	buf := make([]byte, MaxFiles*65)
	n, err := check(hostStorageList(bytesPtr(buf), uint32(len(buf))))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n"), nil
}
