package apphost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/ident"
)

// Sync makes the running apps those installed in apps/: it starts each installed app that is
// not running (unless Stop stopped it), stops apps that were removed, and replaces apps whose
// current image changed, stopping the old version before starting the new. An app whose
// image cannot run is left crashed, reported by an EventRefused and in the returned error;
// the other apps are synced all the same.
func (h *Host) Sync(ctx context.Context) error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return ErrClosed
	}
	installed, errs, err := h.scan()
	if err != nil {
		return err
	}
	h.mu.Lock()
	var removed []*app
	for cid, a := range h.apps {
		if _, ok := installed[cid]; !ok {
			removed = append(removed, a)
			delete(h.apps, cid)
		}
	}
	h.mu.Unlock()
	for _, a := range removed {
		a.halt()
		a.closeImage()
		a.log.line("host", "uninstalled")
		a.log.close()
	}
	loaded := false // an image compiled: its compiler's garbage is worth giving back at once
	defer func() {
		if loaded {
			debug.FreeOSMemory()
		}
	}()
	for _, cid := range slices.Sorted(maps.Keys(installed)) {
		id := installed[cid]
		h.mu.Lock()
		a := h.apps[cid]
		if a == nil {
			if id == "" {
				h.mu.Unlock()
				continue
			}
			a = &app{h: h, cid: cid, st: StateStopped, log: newAppLog(h.path(DirAppLogs, cid+".log"), h.now)}
			h.apps[cid] = a
		}
		h.mu.Unlock()
		a.mu.Lock()
		cur, userStopped, st := a.img, a.userStopped, a.st
		a.mu.Unlock()
		if id == "" || cur != nil && cur.id == id {
			if cur != nil && st == StateStopped && !userStopped {
				if err := a.start(); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		a.halt()
		a.closeImage()
		loaded = true
		img := h.loadImage(ctx, cid, id)
		a.setImage(img)
		a.mu.Lock()
		a.events = nil
		a.mu.Unlock()
		for _, e := range h.pendingEvents() {
			a.queueEvent(e)
		}
		if img.err != nil {
			a.log.line("host", "image "+id+" refused: "+img.err.Error())
			a.emit(Event{Kind: EventRefused, Message: img.err.Error()})
			errs = append(errs, fmt.Errorf("app %s image %s: %w", cid, id, img.err))
			continue
		}
		if err := a.start(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// scan reads apps/: for each app, the image ID its current file names, or "" when that file
// is unreadable (the app is then left as it is, and the problem returned in errs).
func (h *Host) scan() (installed map[string]string, errs []error, err error) {
	installed = map[string]string{}
	entries, err := os.ReadDir(h.path(state.DirApps))
	if errors.Is(err, fs.ErrNotExist) {
		return installed, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("app host: %w", err)
	}
	for _, e := range entries {
		cid := e.Name()
		if !e.IsDir() || !ident.IsID(cid) {
			continue
		}
		b, err := state.ReadFile(h.path(state.DirApps, cid, state.FileCurrent), 128)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not (or no longer) installed
		}
		id := strings.TrimSpace(string(b))
		if err == nil && !ident.IsID(id) {
			err = fmt.Errorf("%q is not an image ID", id)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: current: %w", cid, err))
			id = ""
		}
		installed[cid] = id
	}
	return installed, errs, nil
}
