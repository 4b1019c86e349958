package update

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
)

// App is an installed app.
type App struct {
	Image   api.InstalledImage
	Package ident.Digest // SHA-256 of the image package: package.hdr followed by app.wasm
}

// Installed lists what the device has installed, for reports and `rampart-device status`:
// the runtime of runtimeSlot if it came from a package (the factory image did not, and is not
// listed), then the apps, by component ID.
func Installed(dir state.Dir, runtimeSlot state.Slot) ([]api.InstalledImage, error) {
	var out []api.InstalledImage
	h, err := boot.ReadSlotHeader(dir, runtimeSlot)
	switch {
	case err == nil:
		out = append(out, installedImage(h.Manifest, string(runtimeSlot)))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("slot %s: %w", runtimeSlot, err)
	}
	apps, err := Apps(dir, false)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		out = append(out, a.Image)
	}
	return out, nil
}

// Apps lists the installed apps: those whose current file names a version. With digests, it
// hashes each package too (for attestation evidence).
func Apps(dir state.Dir, digests bool) ([]App, error) {
	entries, err := os.ReadDir(dir.Path(state.DirApps))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []App
	for _, e := range entries {
		image := current(dir, e.Name())
		if image == "" {
			continue
		}
		hdrPath := dir.Path(state.DirApps, e.Name(), image, state.FilePackage)
		b, err := state.ReadFile(hdrPath, state.MaxFileSize)
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", e.Name(), err)
		}
		h, err := imagepkg.ReadHeader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", e.Name(), err)
		}
		a := App{Image: installedImage(h.Manifest, "")}
		if digests {
			sum := sha256.New()
			sum.Write(b)
			f, err := os.Open(dir.Path(state.DirApps, e.Name(), image, state.FileApp))
			if err != nil {
				return nil, fmt.Errorf("app %s: %w", e.Name(), err)
			}
			_, err = io.Copy(sum, io.LimitReader(f, imagepkg.MaxPayloadSize))
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("app %s: %w", e.Name(), err)
			}
			sum.Sum(a.Package[:0])
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Image.ComponentID < out[j].Image.ComponentID })
	return out, nil
}

func installedImage(m imagepkg.Manifest, slot string) api.InstalledImage {
	return api.InstalledImage{ImageID: m.ImageID, ComponentID: m.ComponentID, Name: m.Name,
		Version: m.Version, Type: m.Type, Slot: slot}
}
