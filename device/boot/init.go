package boot

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-iot/rampart/device/rot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// ErrInitialised is returned by [Init] for a state folder that already holds a device.
var ErrInitialised = errors.New("already initialised")

// Factory is what a device is made with at init.
type Factory struct {
	ServiceURL string    // https://HOST[:PORT]
	ServiceCA  []byte    // PEM of the service's CA certificate(s)
	Runtime    io.Reader // the factory runtime image, at most MaxRuntimeSize bytes
	// RuntimeKeys is the PEM of the operator's runtime-signing public keys, learnt from the
	// service over the channel that ServiceCA pins. Without them the device boots only its
	// factory image.
	RuntimeKeys []byte
	// TPM, if not nil, makes the device's root of trust the TPM it names instead of a UDS.
	TPM *TPMConfig
}

// newUDS is where Init makes the UDS before the device is complete; it becomes uds last, so
// an interrupted init leaves a folder that init may be run on again.
const newUDS = state.FileUDS + ".new"

// Init makes a device in the folder at path (created 0700 if need be): a new UDS, the factory
// runtime in slot A with its SHA-512 pinned in boot.json, the runtime keys, the service's CA
// and device.json. It
// returns the device ID. It refuses a folder that already has a UDS, and one that holds files
// that are not a device's.
func Init(path string, f Factory) (ident.DeviceID, error) {
	if err := state.CheckServiceURL(f.ServiceURL); err != nil {
		return "", err
	}
	if f.RuntimeKeys != nil {
		if _, err := state.ParseRuntimeKeys(f.RuntimeKeys); err != nil {
			return "", err
		}
	}
	dir, err := initFolder(path)
	if err != nil {
		return "", err
	}

	if f.TPM != nil {
		return initTPM(dir, f)
	}
	// The identity: a UDS that no device ID was ever printed for is discarded.
	if err := os.Remove(dir.Path(newUDS)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := rot.CreateUDS(dir.Path(newUDS)); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	id, err := deviceID(dir.Path(newUDS))
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := writeFactoryRuntime(dir, f.Runtime); err != nil {
		return "", err
	}
	if err := writeTrust(dir, f, id); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}

	// Last, the UDS takes its name: from now on the folder is a device. Link, unlike rename,
	// never replaces an existing uds.
	if err := os.Link(dir.Path(newUDS), dir.Path(state.FileUDS)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("%s is %w: another init made a UDS in it meanwhile", path, ErrInitialised)
		}
		return "", fmt.Errorf("init: %w", err)
	}
	if err := os.Remove(dir.Path(newUDS)); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := state.SyncDir(string(dir)); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	return id, nil
}

// initFolder makes the folder at path, 0700, and refuses it if it is a device already or holds
// files that are not a device's.
func initFolder(path string) (state.Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	dir := state.Dir(abs)
	if err := CheckNotInitialised(abs); err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if err := checkEmpty(dir); err != nil {
		return "", err
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	return dir, nil
}

// writeFactoryRuntime copies the factory runtime into slot A and pins its SHA-512 in boot.json.
func writeFactoryRuntime(dir state.Dir, runtime io.Reader) error {
	for _, s := range []state.Slot{state.SlotA, state.SlotB} {
		if err := os.MkdirAll(dir.Path(state.DirSlots, string(s)), 0o700); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	h := sha512.New()
	n, err := state.WriteFileFrom(dir.Runtime(state.SlotA), io.TeeReader(runtime, h), MaxRuntimeSize, 0o700)
	if err != nil {
		return fmt.Errorf("init: copy the runtime: %w", err)
	}
	if n == 0 {
		return errors.New("init: the runtime is empty")
	}
	var pin state.Digest512
	h.Sum(pin[:0])
	if err := dir.WriteBoot(state.Boot{Active: state.SlotA, Factory: map[state.Slot]state.Digest512{state.SlotA: pin}}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// writeTrust writes what the device trusts — the keys that may sign runtime updates, the
// service and its CA — in device.json and the files it names, and removes what an earlier,
// interrupted init left of a certificate or status.
func writeTrust(dir state.Dir, f Factory, id ident.DeviceID) error {
	if f.RuntimeKeys != nil {
		if err := dir.WriteRuntimeKeys(f.RuntimeKeys); err != nil {
			return err
		}
	} else if err := os.Remove(dir.Path(state.FileRuntimeKeys)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := state.WriteFile(dir.Path(state.FileServiceCA), f.ServiceCA, 0o600); err != nil {
		return err
	}
	dev := state.Device{ServiceURL: strings.TrimSuffix(f.ServiceURL, "/"), DeviceID: id,
		ServiceCA: state.FileServiceCA, ServiceCASHA256: sha256.Sum256(f.ServiceCA)}
	if err := dir.WriteDevice(dev); err != nil {
		return err
	}
	for _, stale := range []string{state.FileCert, state.FileStatus} {
		if err := os.Remove(dir.Path(stale)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// CheckNotInitialised returns an error of class [ErrInitialised] if the folder at path holds a
// device already, so that a command can refuse it before doing anything else.
func CheckNotInitialised(path string) error {
	if _, err := os.Lstat(filepath.Join(path, state.FileUDS)); err == nil {
		return fmt.Errorf("%s is %w: it has a UDS, so it is a device already; give another --state folder", path, ErrInitialised)
	}
	if _, err := os.Lstat(filepath.Join(path, state.FileTPM)); err == nil {
		return fmt.Errorf("%s is %w: it has %s, so it is a device already; give another --state folder", path, ErrInitialised, state.FileTPM)
	}
	return nil
}

// checkEmpty refuses a folder holding anything but what an interrupted init leaves.
func checkEmpty(dir state.Dir) error {
	entries, err := os.ReadDir(string(dir))
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	known := map[string]bool{newUDS: true, newTPM: true, state.FileEventLog: true, state.FileEventLogNew: true, state.FileDevice: true, state.FileServiceCA: true, state.FileBoot: true,
		state.DirSlots: true, state.FileCert: true, state.FileStatus: true, state.FileRuntimeKeys: true}
	for _, e := range entries {
		if !known[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			return fmt.Errorf("init: %s holds %s, which is not a device's: give an empty or new --state folder", dir, e.Name())
		}
	}
	return nil
}

// DeviceID derives the device ID from the UDS in dir, or from the TPM's attestation key.
func DeviceID(dir state.Dir) (ident.DeviceID, error) {
	if dir.Root() == state.RootTPM {
		return tpmDeviceID(dir)
	}
	return deviceID(dir.Path(state.FileUDS))
}

// ClaimCode returns the device's claim code, derived from its UDS (rot.ClaimCode) or computed
// with its TPM's claim key: what an administrator gives, with the device ID, to claim it.
func ClaimCode(dir state.Dir) (ident.ClaimCode, error) {
	if dir.Root() == state.RootTPM {
		return tpmClaimCode(dir)
	}
	uds, err := rot.LoadUDS(dir.Path(state.FileUDS))
	if err != nil {
		return "", err
	}
	defer clear(uds)
	return rot.ClaimCode(uds)
}

func deviceID(udsPath string) (ident.DeviceID, error) {
	uds, err := rot.LoadUDS(udsPath)
	if err != nil {
		return "", err
	}
	defer clear(uds)
	k, err := rot.DeviceIDKey(uds)
	if err != nil {
		return "", err
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	return ident.DeviceIDFromPublicKey(spki), nil
}
