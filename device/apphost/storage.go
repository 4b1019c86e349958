package apphost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Storage: an app with MutableStorage keeps files in appdata/<component_id>/ through the
// storage_* host functions, never through WASI (the module has no preopened folder at all).
// A name is a plain file name, so no call can reach outside the app's own folder, and each
// write checks the quota: the sum of the sizes of the app's files, after the write, may not
// exceed SizeKB×1024 bytes, and there may be at most MaxFiles files. Every file is sealed
// (seal.go); the quota counts the apps' bytes, not the sealing's. storage_list lists the names
// in the folder without opening the files: one that does not authenticate is refused, and
// removed, when it is read (or at the next start of stage 1, [SealStorage]).

// ValidStorageName reports whether name may name a file in an app's storage: 1 to 64 of
// A–Z a–z 0–9 '.' '_' '-', not starting with '.' (which rules out "." and "..", and the host's
// temporary files).
func ValidStorageName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// quota returns the app's storage quota in bytes, or -1 without MutableStorage.
func (img *image) quota() int64 {
	ms := img.manifest.Capabilities.MutableStorage
	if ms == nil || ms.SizeKB <= 0 {
		return -1
	}
	return int64(ms.SizeKB) * 1024
}

// storageName reads a file name argument and checks the capability. It returns the file's
// path, or an error code.
func storageName(c *call, ptr, n uint32) (string, int32) {
	if c.run.img.quota() < 0 {
		return "", ErrDenied
	}
	name, ok := c.string(ptr, n, 64)
	if !ok || !ValidStorageName(name) {
		return "", ErrInvalid
	}
	return filepath.Join(c.run.app.dataDir(), name), 0
}

// usage returns the sizes of the files in dir as the quota counts them: the apps' bytes,
// without the header and tag of sealing (an absent folder is empty).
func usage(dir string) (map[string]int64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sizes := make(map[string]int64, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		sizes[e.Name()] = max(fi.Size()-int64(SealOverhead), 0)
	}
	return sizes, nil
}

// storageKey returns the runtime's storage key, or logs that there is none.
func (c *call) storageKey() ([]byte, bool) {
	k := c.run.app.h.opt.StorageKey
	if len(k) < 32 {
		c.run.app.log.line("host", "storage: the runtime has no storage key; storage is unavailable")
		return nil, false
	}
	return k, true
}

// readStorage reads and opens the app's file at path. A file that does not authenticate is
// logged, reported and removed, and is absent to the app (fs.ErrNotExist).
func (c *call) readStorage(path string) ([]byte, error) {
	key, ok := c.storageKey()
	if !ok {
		return nil, errNoKey
	}
	a := c.run.app
	b, err := readSealed(key, a.cid, path)
	if errors.Is(err, ErrPlaintext) {
		err = errNotWritten
	}
	if errors.Is(err, ErrNotAuthentic) || err == errNotWritten {
		msg := fmt.Sprintf("storage file %s %v: refused and removed", filepath.Base(path), err)
		a.log.line("host", msg)
		a.emit(Event{Kind: EventStorageRefused, Message: msg})
		os.Remove(path)
		return nil, fs.ErrNotExist
	}
	return b, err
}

var errNoKey = errors.New("no storage key")

// hostStorageWrite: storage_write(name, name_len, data, data_len) → 0. Replaces the file
// atomically; ErrQuota if the store would exceed its quota or MaxFiles.
func hostStorageWrite(c *call, a []uint32) int32 {
	path, code := storageName(c, a[0], a[1])
	if code != 0 {
		return code
	}
	quota := c.run.img.quota()
	if int64(a[3]) > quota {
		return ErrQuota
	}
	data, ok := c.bytes(a[2], a[3])
	if !ok {
		return ErrInvalid
	}
	key, ok := c.storageKey()
	if !ok {
		return ErrUnavailable
	}
	sizes, err := usage(filepath.Dir(path))
	if err != nil {
		return ErrIO
	}
	name := filepath.Base(path)
	total := int64(len(data))
	for n, s := range sizes {
		if n != name {
			total += s
		}
	}
	if _, exists := sizes[name]; !exists && len(sizes) >= MaxFiles {
		return ErrQuota
	}
	if total > quota {
		return ErrQuota
	}
	if err := WriteStorageFile(c.run.app.h.dir, key, c.run.app.cid, name, data); err != nil {
		c.run.app.log.line("host", "storage write: "+err.Error())
		return ErrIO
	}
	return 0
}

// hostStorageRead: storage_read(name, name_len, buf, buf_len) → n, the file's size, with the
// file in buf; ErrTooSmall if it does not fit.
func hostStorageRead(c *call, a []uint32) int32 {
	path, code := storageName(c, a[0], a[1])
	if code != 0 {
		return code
	}
	if _, ok := c.bytes(a[2], a[3]); !ok {
		return ErrInvalid
	}
	b, err := c.readStorage(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case err == errNoKey:
		return ErrUnavailable
	case err != nil:
		return ErrIO
	case len(b) > int(a[3]):
		return ErrTooSmall
	}
	if !c.mem.Write(a[2], b) {
		return ErrInvalid
	}
	return int32(len(b))
}

// hostStorageSize: storage_size(name, name_len) → the file's size in bytes.
func hostStorageSize(c *call, a []uint32) int32 {
	path, code := storageName(c, a[0], a[1])
	if code != 0 {
		return code
	}
	b, err := c.readStorage(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case err == errNoKey:
		return ErrUnavailable
	case err != nil || len(b) > 1<<31-1:
		return ErrIO
	}
	return int32(len(b))
}

// hostStorageDelete: storage_delete(name, name_len) → 0.
func hostStorageDelete(c *call, a []uint32) int32 {
	path, code := storageName(c, a[0], a[1])
	if code != 0 {
		return code
	}
	err := os.Remove(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case err != nil:
		return ErrIO
	}
	return 0
}

// hostStorageList: storage_list(buf, buf_len) → n, the app's file names in buf, sorted, each
// followed by '\n'; ErrTooSmall if they do not fit (MaxFiles×65 bytes always do).
func hostStorageList(c *call, a []uint32) int32 {
	if c.run.img.quota() < 0 {
		return ErrDenied
	}
	buf, ok := c.bytes(a[0], a[1])
	if !ok {
		return ErrInvalid
	}
	sizes, err := usage(c.run.app.dataDir())
	if err != nil {
		return ErrIO
	}
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		if ValidStorageName(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		out.WriteString(n)
		out.WriteByte('\n')
	}
	if out.Len() > len(buf) {
		return ErrTooSmall
	}
	return int32(copy(buf, out.String()))
}

// cleanStorage removes temporary files a crash may have left in an app's storage.
func cleanStorage(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
