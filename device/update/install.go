package update

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/device/boot"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
)

func keyID(k *ecdsa.PublicKey) string { return imagepkg.KeyID(k) }

// runtimeUpdate installs the feed's newest runtime release in the inactive slot and puts it on
// trial, unless the device runs it already or its trial failed.
func (c *Client) runtimeUpdate(ctx context.Context, feed string, res *Result) error {
	bc, err := c.Dir.ReadBoot()
	if err != nil {
		return err
	}
	if bc.Pending != "" && bc.Pending != c.Slot {
		res.Restart = true // put on trial by an earlier cycle that did not get to restart
		return nil
	}
	r, err := c.refresh(ctx, feed)
	if err != nil {
		return err
	}
	ts, err := r.listTargets(api.TargetRuntimePrefix, api.ImageRuntime)
	if err != nil {
		return err
	}
	t, ok := newest(ts)
	if !ok {
		return nil
	}
	running := ""
	if h, err := boot.ReadSlotHeader(c.Dir, c.Slot); err == nil {
		running = h.Manifest.ImageID
	}
	if t.custom.ImageID == running {
		return nil
	}
	st, _ := c.Dir.ReadStatus()
	if rb := st.RolledBack; rb != nil && rb.ImageID == t.custom.ImageID && !rb.Retry {
		c.logf("runtime %s (image %s) was rolled back at %s; not trying it again until a newer release", t.custom.Version, t.custom.ImageID, rb.At.Format("2006-01-02T15:04:05Z"))
		return nil
	}
	keys, err := c.Dir.ReadRuntimeKeys()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: the device learnt no runtime keys at init, so stage 0 would boot no runtime but the factory image", ErrRefused)
	}
	trusted := make(map[string]*ecdsa.PublicKey, len(keys))
	for _, k := range keys {
		trusted[keyID(k)] = k
	}
	if until := c.deferred(ctx, KindRuntime); !until.IsZero() {
		res.Deferred = append(res.Deferred, deferredLine(fmt.Sprintf("runtime %s", t.custom.Version), until))
		return nil
	}
	defer c.installed(KindRuntime)
	slot := c.Slot.Other()
	if !slotHolds(c.Dir, slot, t.custom.ImageID, trusted) {
		if err := c.installRuntime(ctx, r, t, slot, trusted); err != nil {
			return err
		}
	}
	bc.Pending, bc.Tries = slot, 0
	if err := c.Dir.WriteBoot(bc); err != nil {
		return err
	}
	c.hook(StepRuntimePending)
	res.Changed = append(res.Changed, fmt.Sprintf("runtime %s (image %s) installed in slot %s, to be tried", t.custom.Version, t.custom.ImageID, slot))
	res.Restart = true
	return nil
}

// installRuntime downloads and verifies the runtime package t and writes it into slot: the
// payload as runtime, then the header as package.hdr, each atomically and synced. The slot's
// old header is removed first, so that at no point does the slot hold a header and a runtime
// that belong together but are only half there; until boot.json names the slot as pending,
// stage 0 does not boot it anyway, and stage 0 checks the pair again before it does.
func (c *Client) installRuntime(ctx context.Context, r *repo, t target, slot state.Slot, trusted map[string]*ecdsa.PublicKey) error {
	part, err := c.download(ctx, r, t)
	if err != nil {
		return err
	}
	f, h, hdr, err := openPackage(part, t, trusted)
	if err != nil {
		os.Remove(part)
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(c.Dir.Path(state.DirSlots, string(slot)), 0o700); err != nil {
		return err
	}
	if err := os.Remove(c.Dir.Package(slot)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := state.WriteFileFrom(c.Dir.Runtime(slot), h.Payload(f), h.Manifest.PayloadSize, 0o700); err != nil {
		if errors.Is(err, imagepkg.ErrPayloadMismatch) {
			os.Remove(part)
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return fmt.Errorf("install runtime %s in slot %s: %w", t.custom.ImageID, slot, err)
	}
	c.hook(StepRuntimeWritten)
	if err := state.WriteFile(c.Dir.Package(slot), hdr, 0o600); err != nil {
		return err
	}
	c.hook(StepRuntimeInstalled)
	f.Close()
	os.Remove(part)
	return nil
}

// slotHolds reports whether slot holds the runtime image imageID, complete and signed by one of
// trusted: a cycle interrupted after installing it need not download it again.
func slotHolds(dir state.Dir, slot state.Slot, imageID string, trusted map[string]*ecdsa.PublicKey) bool {
	h, err := boot.ReadSlotHeader(dir, slot)
	if err != nil || h.Manifest.ImageID != imageID || h.Manifest.Type != imagepkg.TypeRuntime {
		return false
	}
	if _, err := h.Verify(trusted); err != nil {
		return false
	}
	f, err := os.Open(dir.Runtime(slot))
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, h.Payload(f))
	return err == nil
}

// openPackage opens a downloaded package, reads its header and checks it: signed by one of
// trusted, and naming the image, component and type that the TUF target names. It returns the
// file positioned at the payload, the header, and the header's bytes as read.
func openPackage(path string, t target, trusted map[string]*ecdsa.PublicKey) (*os.File, *imagepkg.Header, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	var hdr bytes.Buffer
	h, err := imagepkg.ReadHeader(io.TeeReader(f, &hdr))
	if err == nil {
		_, err = h.Verify(trusted)
	}
	if err == nil {
		m := h.Manifest
		if m.ImageID != t.custom.ImageID || m.ComponentID != t.custom.ComponentID || m.Type != t.custom.Type {
			err = fmt.Errorf("the package is image %s of component %s, type %s; its TUF target names image %s of component %s, type %s",
				m.ImageID, m.ComponentID, m.Type, t.custom.ImageID, t.custom.ComponentID, t.custom.Type)
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%w: package %s: %w", ErrRefused, t.name, err)
	}
	return f, h, hdr.Bytes(), nil
}

// appUpdate makes the installed apps the targets of the group repository: it installs each one
// missing and removes apps that are no longer deployed.
func (c *Client) appUpdate(ctx context.Context, group, window string, keys map[string]*ecdsa.PublicKey, res *Result) error {
	r, err := c.refresh(ctx, group)
	if err != nil {
		return err
	}
	want, err := deployedApps(r)
	if err != nil {
		return err
	}
	todo, remove, err := c.appChanges(want)
	if err != nil || len(todo) == 0 && len(remove) == 0 {
		return err
	}
	if opens := c.windowOpens(window, r.urgent); !opens.IsZero() {
		res.Deferred = append(res.Deferred, fmt.Sprintf("application update waits for the maintenance window %s, which opens at %s",
			clean(window), opens.Format(time.RFC3339)))
		res.WindowOpens = opens
		return nil
	}
	if until := c.deferred(ctx, KindApplication); !until.IsZero() {
		res.Deferred = append(res.Deferred, deferredLine("application", until))
		return nil
	}
	defer c.installed(KindApplication)
	var errs []error
	for _, comp := range todo {
		t := want[comp]
		if err := c.installApp(ctx, r, t, keys); err != nil {
			errs = append(errs, fmt.Errorf("app %s %s: %w", t.custom.Name, t.custom.Version, err))
			continue
		}
		res.Changed = append(res.Changed, fmt.Sprintf("app %s %s (image %s) installed", t.custom.Name, t.custom.Version, t.custom.ImageID))
	}
	for _, comp := range remove {
		removed, err := c.uninstall(comp)
		if err != nil {
			errs = append(errs, err)
		} else if removed != "" {
			res.Changed = append(res.Changed, fmt.Sprintf("app of component %s (image %s) removed: no longer deployed", comp, removed))
		}
	}
	return errors.Join(errs...)
}

// windowOpens returns when the maintenance window next opens if an application update must
// wait for it now, else the zero time: no window, an urgent deployment, or the window is open.
func (c *Client) windowOpens(window string, urgent bool) time.Time {
	w, ok, err := api.ParseWindow(window)
	if err != nil {
		c.logf("ignoring the maintenance window the service sent: %v", err)
	}
	now := c.now()
	if !ok || urgent || w.Contains(now) {
		return time.Time{}
	}
	return w.Next(now)
}

// deployedApps returns the app targets of the group repository r by component: at most
// api.MaxDeploymentImages, one per component.
func deployedApps(r *repo) (map[string]target, error) {
	ts, err := r.listTargets(r.prefix, api.ImageApplication)
	if err != nil {
		return nil, err
	}
	if len(ts) > api.MaxDeploymentImages {
		return nil, fmt.Errorf("%w: the deployment has %d images, more than %d", ErrRefused, len(ts), api.MaxDeploymentImages)
	}
	want := map[string]target{}
	for _, t := range ts {
		if other, dup := want[t.custom.ComponentID]; dup {
			return nil, fmt.Errorf("%w: the deployment has two images of component %s: %s and %s", ErrRefused, t.custom.ComponentID, other.custom.ImageID, t.custom.ImageID)
		}
		want[t.custom.ComponentID] = t
	}
	return want, nil
}

// appChanges returns the components of want to install, in order, and the installed
// components to remove; it cleans up the other versions of apps already up to date.
func (c *Client) appChanges(want map[string]target) (todo, remove []string, err error) {
	entries, err := os.ReadDir(c.Dir.Path(state.DirApps))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	for _, comp := range sortedKeys(want) {
		t := want[comp]
		if current(c.Dir, comp) == t.custom.ImageID && complete(c.Dir, comp, t.custom.ImageID) {
			c.clean(comp, t.custom.ImageID)
			continue
		}
		todo = append(todo, comp)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			remove = append(remove, e.Name())
		}
	}
	return todo, remove, nil
}

// installApp downloads, verifies and installs app t (DESIGN section 10: installs are atomic):
//
//  1. the package is downloaded and checked against its TUF target ([Client.download]);
//  2. its header is read and its signature checked against the image keys, and its manifest
//     against the target;
//  3. package.hdr, manifest.json (the signed app manifest) and app.wasm (the payload, its size
//     and SHA-256 checked as it streams) are written and synced in apps/COMPONENT/.IMAGE.tmp;
//  4. that folder is renamed to apps/COMPONENT/IMAGE;
//  5. apps/COMPONENT/current is replaced, atomically, by the new image ID: the switch;
//  6. the other versions of the app are removed.
//
// A power cut before step 5 leaves current naming the old version, complete; a cycle that
// finds a folder of the image it is to install (left by step 4) installs it again.
func (c *Client) installApp(ctx context.Context, r *repo, t target, keys map[string]*ecdsa.PublicKey) error {
	part, err := c.download(ctx, r, t)
	if err != nil {
		return err
	}
	f, h, hdr, err := openPackage(part, t, keys)
	if err != nil {
		os.Remove(part)
		return err
	}
	defer f.Close()
	if h.Manifest.App == nil {
		os.Remove(part)
		return fmt.Errorf("%w: package %s has no app manifest", ErrRefused, t.name)
	}
	comp, image := t.custom.ComponentID, t.custom.ImageID
	if err := c.unpackApp(comp, image, f, h, hdr); err != nil {
		if errors.Is(err, ErrRefused) {
			os.Remove(part)
		}
		return err
	}
	f.Close()
	os.Remove(part)
	c.clean(comp, image)
	c.hook(StepAppCleaned)
	return nil
}

// unpackApp does steps 3 to 5 of [Client.installApp] for the package whose header h (read as
// hdr) has been checked, with f positioned at its payload. A payload that does not match the
// manifest is of class ErrRefused.
func (c *Client) unpackApp(comp, image string, f io.Reader, h *imagepkg.Header, hdr []byte) error {
	appManifest, err := json.MarshalIndent(h.Manifest.App, "", "  ")
	if err != nil {
		return err
	}
	appDir := c.Dir.Path(state.DirApps, comp)
	if err := os.MkdirAll(appDir, 0o700); err != nil {
		return err
	}
	tmp, final := filepath.Join(appDir, "."+image+".tmp"), filepath.Join(appDir, image)
	for _, stale := range []string{tmp, final} {
		if err := os.RemoveAll(stale); err != nil {
			return err
		}
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	if err := state.WriteFile(filepath.Join(tmp, state.FilePackage), hdr, 0o600); err != nil {
		return err
	}
	if err := state.WriteFile(filepath.Join(tmp, state.FileAppManifest), append(appManifest, '\n'), 0o600); err != nil {
		return err
	}
	if _, err := state.WriteFileFrom(filepath.Join(tmp, state.FileApp), h.Payload(f), h.Manifest.PayloadSize, 0o600); err != nil {
		os.RemoveAll(tmp)
		if errors.Is(err, imagepkg.ErrPayloadMismatch) {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return err
	}
	c.hook(StepAppUnpacked)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := state.SyncDir(appDir); err != nil {
		return err
	}
	c.hook(StepAppInstalled)
	if err := state.WriteFile(filepath.Join(appDir, state.FileCurrent), []byte(image), 0o600); err != nil {
		return err
	}
	c.hook(StepAppSwitched)
	return nil
}

// clean removes every version of app comp but image, and leftovers of interrupted installs.
func (c *Client) clean(comp, image string) {
	appDir := c.Dir.Path(state.DirApps, comp)
	entries, _ := os.ReadDir(appDir)
	for _, e := range entries {
		if e.Name() != image && e.Name() != state.FileCurrent {
			os.RemoveAll(filepath.Join(appDir, e.Name()))
		}
	}
}

// uninstall removes app comp: first its current file, after which it is not installed, then
// its folder. It returns the image ID that was current, if any.
func (c *Client) uninstall(comp string) (string, error) {
	appDir := c.Dir.Path(state.DirApps, comp)
	was := current(c.Dir, comp)
	if err := os.Remove(filepath.Join(appDir, state.FileCurrent)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := state.SyncDir(appDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	c.hook(StepAppUninstalled)
	if err := os.RemoveAll(appDir); err != nil {
		return "", err
	}
	return was, nil
}

// current returns the image ID that apps/comp/current names, or "" if none.
func current(dir state.Dir, comp string) string {
	b, err := state.ReadFile(dir.Path(state.DirApps, comp, state.FileCurrent), 64)
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if !ident.IsID(id) {
		return ""
	}
	return id
}

// complete reports whether the folder of app comp's image holds its three files.
func complete(dir state.Dir, comp, image string) bool {
	for _, name := range []string{state.FilePackage, state.FileAppManifest, state.FileApp} {
		if _, err := os.Stat(dir.Path(state.DirApps, comp, image, name)); err != nil {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
