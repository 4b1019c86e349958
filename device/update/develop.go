package update

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/capability"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// AppKeys returns the keys whose signatures on application packages the device accepts now:
// the tenant's image keys (tenant-keys.pem, from the last update info), and, while the device
// holds a valid development capability, its developer keys (DESIGN section 4: a device accepts
// developer-signed images only while it holds the capability for its tenant). developer says
// whether the capability is held.
func AppKeys(dir state.Dir, device ident.DeviceID) (keys map[string]*ecdsa.PublicKey, developer bool, err error) {
	tenant, err := dir.ReadTenantKeys()
	if err != nil {
		return nil, false, err
	}
	keys = maps.Clone(tenant)
	if keys == nil {
		keys = map[string]*ecdsa.PublicKey{}
	}
	dev, err := dir.Development(device)
	if err != nil {
		// No capability, or one that does not check: only the tenant's keys.
		return keys, false, nil
	}
	devKeys, err := dev.Keys()
	if err != nil {
		return keys, false, nil
	}
	maps.Copy(keys, devKeys)
	return keys, true, nil
}

// VerifyApp checks an installed app version before it runs (DESIGN section 1: signatures are
// checked on upload, on delivery and before every run): imageDir is apps/COMPONENT/IMAGE, and
// module and appManifest the bytes the app host will run and obey. The package header kept
// there must be signed by a key that [AppKeys] accepts now, be of an application with that
// component and image ID, and name module's size and SHA-256 and appManifest's content.
// It is the app host's Options.VerifyImage. Refusals are of class ErrRefused.
func VerifyApp(dir state.Dir, device ident.DeviceID, imageDir string, module, appManifest []byte) error {
	keys, developer, err := AppKeys(dir, device)
	if err != nil {
		return err
	}
	b, err := state.ReadFile(filepath.Join(imageDir, state.FilePackage), state.MaxFileSize)
	if err != nil {
		return err
	}
	r := bytes.NewReader(b)
	h, err := imagepkg.ReadHeader(r)
	if err == nil && r.Len() != 0 {
		err = fmt.Errorf("%w: %d bytes after the header", imagepkg.ErrMalformed, r.Len())
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRefused, state.FilePackage, err)
	}
	if _, err := h.Verify(keys); err != nil {
		if !developer {
			err = fmt.Errorf("%w (a developer-signed image runs only while the device holds the development capability)", err)
		}
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	m := h.Manifest
	image, comp := filepath.Base(imageDir), filepath.Base(filepath.Dir(imageDir))
	if m.Type != imagepkg.TypeApplication || m.ImageID != image || m.ComponentID != comp || m.App == nil {
		return fmt.Errorf("%w: the package is image %s of component %s, type %s, installed as image %s of component %s",
			ErrRefused, m.ImageID, m.ComponentID, m.Type, image, comp)
	}
	if int64(len(module)) != m.PayloadSize || ident.Digest(sha256.Sum256(module)) != m.PayloadSHA256 {
		return fmt.Errorf("%w: the module is not the payload its signed manifest names (size and SHA-256)", ErrRefused)
	}
	got, err := manifest.Parse(appManifest)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(m.App)
	if !bytes.Equal(gb, wb) {
		return fmt.Errorf("%w: the app manifest differs from the signed one", ErrRefused)
	}
	return nil
}

// ErrNoCapability is returned by [Sideload] on a device without a valid development
// capability.
var ErrNoCapability = errors.New("sideloading needs the development capability, and this device holds none: " +
	"have an administrator run 'rampart device enable-development DEVICE_ID', then let the device check in")

// MaxSideload bounds a sideloaded package: a header and a module the app host accepts.
const MaxSideload = imagepkg.MaxManifestSize + 64<<10 + maxModule

// maxModule is the app host's limit of a module (apphost.MaxModuleSize).
const maxModule = 64 << 20

// Sideload installs the application package that r yields (DESIGN section 5, development): only
// while the device holds a valid development capability, and only a package of type
// application signed by one of its developer keys or the tenant's image keys, with a payload
// that streams to the size and SHA-256 of its manifest. It installs it as an update would,
// atomically, in apps/COMPONENT/IMAGE, and makes it the app's current version. The package is
// spooled to downloads/ first, bounded by [MaxSideload]. Refusals are of class ErrRefused, or
// [ErrNoCapability].
//
// The caller serialises Sideload with update cycles: both write apps/.
func Sideload(dir state.Dir, r io.Reader) (api.InstalledImage, error) {
	var out api.InstalledImage
	dev, err := dir.ReadDevice()
	if err != nil {
		return out, err
	}
	keys, developer, err := AppKeys(dir, dev.DeviceID)
	if err != nil {
		return out, err
	}
	if !developer {
		return out, ErrNoCapability
	}
	if err := os.MkdirAll(dir.Path(state.DirDownloads), 0o700); err != nil {
		return out, err
	}
	f, err := os.CreateTemp(dir.Path(state.DirDownloads), "sideload-*.part")
	if err != nil {
		return out, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, MaxSideload+1))
	if err != nil {
		return out, fmt.Errorf("receive the package: %w", err)
	}
	if n > MaxSideload {
		return out, fmt.Errorf("%w: the package is larger than %d bytes", ErrRefused, int64(MaxSideload))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return out, err
	}
	var hdr bytes.Buffer
	h, err := imagepkg.ReadHeader(io.TeeReader(f, &hdr))
	if err == nil {
		_, err = h.Verify(keys)
	}
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	m := h.Manifest
	switch {
	case m.Type != imagepkg.TypeApplication || m.App == nil:
		return out, fmt.Errorf("%w: the package is of type %s: only applications can be sideloaded", ErrRefused, m.Type)
	case m.PayloadSize > maxModule:
		return out, fmt.Errorf("%w: the module is %d bytes, more than the app host's %d", ErrRefused, m.PayloadSize, maxModule)
	}
	c := &Client{Dir: dir}
	if err := c.unpackApp(m.ComponentID, m.ImageID, f, h, hdr.Bytes()); err != nil {
		return out, fmt.Errorf("install %s %s: %w", m.Name, m.Version, err)
	}
	c.clean(m.ComponentID, m.ImageID)
	return installedImage(m, ""), nil
}

// trustedAppKeys are the keys the cycle accepts on app packages: the update info's image keys
// and, with a development capability that those keys signed for this device, its developer
// keys.
func (c *Client) trustedAppKeys(imageKeys map[string]*ecdsa.PublicKey) map[string]*ecdsa.PublicKey {
	dev, err := c.Dir.ReadDevice()
	if err != nil {
		return imageKeys
	}
	b, err := c.Dir.ReadCapability()
	if err != nil {
		return imageKeys
	}
	d, err := capability.Verify(b, imageKeys, dev.DeviceID)
	if err != nil {
		c.logf("the stored development capability is not valid, ignoring it: %v", err)
		return imageKeys
	}
	devKeys, err := d.Keys()
	if err != nil {
		return imageKeys
	}
	keys := maps.Clone(imageKeys)
	maps.Copy(keys, devKeys)
	return keys
}
