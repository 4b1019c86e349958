// Package state is the device's state folder: its layout, its files' formats, and the one way
// they are written (atomically) and read (bounded and strictly).
//
// Every part of the device runtime keeps what must survive a restart here, so one package
// fixes the names, modes and formats, and a crash at any point leaves either the old file or
// the new one, never half of either.
//
// # Layout
//
//	DIR/                   0700
//	  uds                  0600  the Unique Device Secret (written by rot.CreateUDS, read by stage 0 only)
//	  tpm.json             0600  instead of uds, with the TPM root of trust: the TPM, the runtime PCR and
//	                             the TPM-wrapped blobs of the attestation and claim keys ([TPM])
//	  tpm-sealed.json      0600  the storage key, sealed by the TPM to the runtime PCR ([SealedKey])
//	  tpm-eventlog         0600  the runtime PCR's TCG event log, written by stage 0
//	  tpm-eventlog.new     0600  the log with one more event, while stage 0 extends the PCR
//	  device.json          0600  service URL, device ID, service CA file name and SHA-256 ([Device])
//	  service-ca.pem       0600  the service's CA certificate(s), the only roots the device trusts
//	  runtime-keys.pem     0600  the operator's runtime-signing public keys, learnt at init
//	  boot.json            0600  active slot, factory pins, the slot on trial ([Boot])
//	  slots/a/runtime      0700  the runtime (stage 1) in slot A: the factory image at init
//	  slots/b/runtime      0700  the runtime in slot B, written by runtime updates
//	  slots/X/package.hdr  0600  the header (manifest and signatures) of the runtime's image
//	                             package, next to a runtime that came from one
//	  cert.pem             0600  device certificate, then the tenant CA chain
//	  status.json          0600  last boot, last attestation, last update ([Status])
//	  tuf/group/ID/        0700  trusted TUF metadata of a device group's repository (root.json…)
//	  tuf/feed/NAME/       0700  trusted TUF metadata of an OS feed's repository
//	  downloads/SHA256.part 0600 an image package being downloaded (resumed with Range)
//	  apps/COMPONENT/IMAGE/ 0700 an installed app: app.wasm, package.hdr, manifest.json
//	  apps/COMPONENT/current 0600 the image ID of the app's installed version
//	  appdata/, applogs/, cache/ 0700 the app host's (package apphost); appdata/'s files sealed
//	                             under the runtime's storage key
//	  storage-key-id       0600  names the storage key appdata/ and events.jsonl are sealed under
//	                             ([FileStorageKeyID])
//	  tenant-keys.pem      0600  the tenant's image-signing public keys, from the last update info
//	  capability.json      0600  the development capability, while the service grants one
//	  events.jsonl         0600  the error events to upload, each line MACed under a key from the
//	                             storage key, at most 1 MiB (package events)
//	  boot-events.jsonl    0600  stage 0's error events, plain, until stage 1 adopts them ([FileBootEvents])
//	  stage1.running       0600  present while stage 1 runs ([FileRunning])
//	  control.sock         0600  stage 1's control socket (package control), while it runs
//	  notify.json          0600  the notification channel: open or closed, since when ([Notify])
//
// # Writing and reading
//
// [WriteFile] writes a temporary file in the same folder, syncs it, renames it over the target
// and syncs the folder. [ReadFile] refuses files over a limit ([MaxFileSize] for everything but
// runtimes), and its JSON files are decoded with [strictjson.Decode], which refuses duplicate keys (also
// keys differing only in case), unknown fields, deep nesting and trailing data.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rampart-iot/rampart/format/strictjson"
)

// File names in the state folder.
const (
	FileUDS       = "uds"
	FileDevice    = "device.json"
	FileServiceCA = "service-ca.pem"
	FileBoot      = "boot.json"
	FileCert      = "cert.pem"
	FileStatus    = "status.json"
	FileNotify    = "notify.json"
	DirSlots      = "slots"
	FileRuntime   = "runtime"     // in each slot's folder
	FilePackage   = "package.hdr" // in a slot's or an app version's folder

	FileRuntimeKeys = "runtime-keys.pem"
	DirTUF          = "tuf"
	DirDownloads    = "downloads"
	DirApps         = "apps"
	FileCurrent     = "current"       // in an app's folder
	FileApp         = "app.wasm"      // in an app version's folder
	FileAppManifest = "manifest.json" // in an app version's folder
)

// MaxFileSize bounds every state file but the runtimes.
const MaxFileSize = 1 << 20

// Dir is a state folder.
type Dir string

// ErrNotInitialised is returned by [Open] for a folder without a device in it.
var ErrNotInitialised = errors.New("not initialised")

// Open returns the state folder at path after checking that it holds a device and that
// nobody but its owner can change it.
func Open(path string) (Dir, error) {
	if path == "" {
		return "", errors.New("no state folder: give --state DIR")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("state folder %s: %w: run 'rampart-device init --state %s --server URL --cacert FILE'", path, ErrNotInitialised, path)
	}
	if err != nil {
		return "", fmt.Errorf("state folder: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("state folder %s is not a folder", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return "", fmt.Errorf("state folder %s can be changed by group or others (mode %04o): run chmod 700 %s", path, fi.Mode().Perm(), path)
	}
	d := Dir(abs)
	if _, err := os.Stat(d.Path(FileDevice)); err != nil {
		return "", fmt.Errorf("state folder %s: %w: run 'rampart-device init --state %s --server URL --cacert FILE'", path, ErrNotInitialised, path)
	}
	return d, nil
}

// Path returns the path of name in the folder.
func (d Dir) Path(name ...string) string {
	return filepath.Join(append([]string{string(d)}, name...)...)
}

// Runtime returns the path of the runtime in slot s.
func (d Dir) Runtime(s Slot) string { return d.Path(DirSlots, string(s), FileRuntime) }

// Package returns the path of the package header of the runtime in slot s.
func (d Dir) Package(s Slot) string { return d.Path(DirSlots, string(s), FilePackage) }

// ReadFile reads path, refusing a file larger than limit bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// WriteFile replaces path with data atomically: readers see the old file or the new one.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	_, err := WriteFileFrom(path, bytes.NewReader(data), int64(len(data)), perm)
	return err
}

// WriteFileFrom replaces path atomically with what r yields, refusing more than limit bytes.
// It returns the number of bytes written.
func WriteFileFrom(path string, r io.Reader, limit int64, perm fs.FileMode) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if n > limit {
		return 0, fmt.Errorf("write %s: larger than %d bytes", path, limit)
	}
	if err := f.Chmod(perm); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	done = true
	return n, SyncDir(dir)
}

// SyncDir makes a folder's entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readJSON reads and strictly decodes the state file name into v.
func (d Dir) readJSON(name string, v any) error {
	b, err := ReadFile(d.Path(name), MaxFileSize)
	if err != nil {
		return err
	}
	if err := strictjson.Decode(b, v); err != nil {
		return fmt.Errorf("%s: %w", d.Path(name), err)
	}
	return nil
}

// writeJSON writes v to the state file name, atomically, mode 0600.
func (d Dir) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(d.Path(name), append(b, '\n'), 0o600)
}
