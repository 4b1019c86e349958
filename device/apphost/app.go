package apphost

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
)

// Restart backoff.
const (
	minBackoff   = time.Second
	maxBackoff   = 5 * time.Minute
	healthyAfter = 10 * time.Minute // a run this long resets the backoff
)

// nextBackoff returns the wait before restarting an app whose last wait was prev and whose
// last run lasted ran.
func nextBackoff(prev, ran time.Duration) time.Duration {
	if prev == 0 || ran >= healthyAfter {
		return minBackoff
	}
	return min(2*prev, maxBackoff)
}

// image is one installed version of an app, compiled, or why it cannot run.
type image struct {
	id       string
	manifest *manifest.App // nil if it could not be read
	compiled wazero.CompiledModule
	pins     map[uint32]bool
	err      error
}

func (img *image) grantsPin(p uint32) bool { return img.pins[p] }

// loadImage reads, checks and compiles version id of app cid.
func (h *Host) loadImage(ctx context.Context, cid, id string) *image {
	img := &image{id: id}
	dir := h.path(state.DirApps, cid, id)
	b, err := state.ReadFile(filepath.Join(dir, state.FileAppManifest), manifest.MaxSize)
	if err != nil {
		img.err = fmt.Errorf("app manifest: %w", err)
		return img
	}
	wasm, err := state.ReadFile(filepath.Join(dir, state.FileApp), MaxModuleSize)
	if err != nil {
		img.err = fmt.Errorf("module: %w", err)
		return img
	}
	if h.opt.VerifyImage != nil {
		if err := h.opt.VerifyImage(dir, wasm, b); err != nil {
			img.err = fmt.Errorf("image verification: %w", err)
			return img
		}
	}
	m, err := manifest.Parse(b)
	if err != nil {
		img.err = err
		return img
	}
	if m.ComponentId != cid {
		img.err = fmt.Errorf("app manifest is for component %s, installed as %s", m.ComponentId, cid)
		return img
	}
	img.manifest = m
	img.pins = map[uint32]bool{}
	for _, p := range m.Capabilities.Gpio {
		img.pins[uint32(p)] = true
	}
	compiled, err := h.rt.CompileModule(ctx, wasm)
	if err != nil {
		img.err = fmt.Errorf("module is not valid WebAssembly for this host: %w", err)
		return img
	}
	if err := checkModule(compiled); err != nil {
		compiled.Close(ctx)
		img.err = err
		return img
	}
	img.compiled = compiled
	return img
}

// checkModule refuses a module that imports what the host does not provide or has no _start,
// with a message that says which.
func checkModule(c wazero.CompiledModule) error {
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName:
		case mod == HostModule:
			if !slices.ContainsFunc(hostFuncs, func(h hostFunc) bool { return h.name == name }) {
				return fmt.Errorf("module imports %s.%s, which this host does not provide", mod, name)
			}
		default:
			return fmt.Errorf("module imports %s.%s: apps may import only from %q and %q", mod, name, HostModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	if len(c.ImportedMemories()) > 0 {
		return errors.New("module imports a memory: apps must define their own")
	}
	if _, ok := c.ExportedFunctions()["_start"]; !ok {
		return errors.New("module has no _start: build it with GOOS=wasip1 GOARCH=wasm as a program (package main)")
	}
	return nil
}

// app is an installed app and its supervisor.
type app struct {
	h   *Host
	cid string
	log *appLog

	mu          sync.Mutex // guards what follows
	img         *image
	st          State
	restarts    int
	lastExit    *Exit
	userStopped bool
	cancel      context.CancelFunc // of the supervisor; nil when none runs
	done        chan struct{}      // closed when the supervisor returns
	events      []SystemEvent
}

func (a *app) name() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.img != nil && a.img.manifest != nil {
		return a.img.manifest.Name
	}
	return a.cid
}

func (a *app) state() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

func (a *app) dataDir() string { return a.h.path(DirAppData, a.cid) }

func (a *app) status() AppStatus {
	a.mu.Lock()
	s := AppStatus{ComponentID: a.cid, Name: a.cid, State: a.st, Restarts: a.restarts}
	var pins []int
	if img := a.img; img != nil {
		s.ImageID = img.id
		if img.manifest != nil {
			s.Name = img.manifest.Name
			pins = slices.Sorted(slices.Values(img.manifest.Capabilities.Gpio))
		}
		if img.err != nil {
			s.Error = img.err.Error()
		}
	}
	if a.lastExit != nil {
		e := *a.lastExit
		s.LastExit = &e
	}
	a.mu.Unlock()
	for _, p := range pins {
		s.Pins = append(s.Pins, Pin{Pin: p, Value: a.h.pin(p)})
	}
	return s
}

// emit fills in who e is about and sends it.
func (a *app) emit(e Event) {
	a.mu.Lock()
	e.ComponentID, e.App = a.cid, a.cid
	if a.img != nil {
		e.ImageID = a.img.id
		if a.img.manifest != nil {
			e.App = a.img.manifest.Name
		}
	}
	a.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = a.h.now()
	}
	a.h.emit(e)
}

// setImage makes img the app's version: a new version starts afresh.
func (a *app) setImage(img *image) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.img, a.restarts, a.lastExit, a.userStopped = img, 0, nil, false
	a.st = StateStopped
	if img.err != nil {
		a.st = StateCrashed
	}
}

func (a *app) closeImage() {
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img != nil && img.compiled != nil {
		img.compiled.Close(context.Background())
	}
}

// start starts the supervisor of the app's image. The caller holds h.ctl and has halted any
// earlier supervisor.
func (a *app) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.img == nil {
		return fmt.Errorf("app %s has no image", a.cid)
	}
	if a.img.err != nil {
		a.st = StateCrashed
		return fmt.Errorf("app %s image %s cannot run: %w", a.cid, a.img.id, a.img.err)
	}
	ctx, cancel := context.WithCancel(a.h.base)
	a.cancel, a.done = cancel, make(chan struct{})
	a.userStopped = false
	a.restarts = 0
	a.st = StateRunning
	go a.supervise(ctx, a.img, a.done)
	return nil
}

// halt stops the supervisor, if one runs, and waits for it.
func (a *app) halt() {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel, a.done = nil, nil
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// supervise runs img until ctx ends, restarting it with backoff whenever it exits or traps.
func (a *app) supervise(ctx context.Context, img *image, done chan struct{}) {
	defer close(done)
	var backoff time.Duration
	for {
		began := a.h.now()
		exit, refused := a.runOnce(ctx, img)
		if refused != nil {
			a.mu.Lock()
			a.st = StateCrashed
			img.err = refused
			a.mu.Unlock()
			a.log.line("host", "refused: "+refused.Error())
			a.emit(Event{Kind: EventRefused, Message: refused.Error()})
			return
		}
		if ctx.Err() != nil {
			a.stopped()
			return
		}
		a.mu.Lock()
		a.lastExit, a.st = exit, StateBackoff
		a.mu.Unlock()
		if exit.Trap != "" {
			a.emit(Event{Kind: EventTrap, Message: exit.Trap, Detail: exit.TrapDetail})
		} else {
			a.emit(Event{Kind: EventExit, ExitCode: exit.Code, Message: exit.Panic})
		}
		backoff = nextBackoff(backoff, a.h.now().Sub(began))
		a.log.line("host", fmt.Sprintf("restarting in %s", backoff))
		a.emit(Event{Kind: EventRestart, Backoff: backoff})
		select {
		case <-a.h.opt.After(backoff):
		case <-ctx.Done():
			a.stopped()
			return
		}
		a.mu.Lock()
		a.restarts++
		a.mu.Unlock()
	}
}

func (a *app) stopped() {
	a.mu.Lock()
	a.st = StateStopped
	a.mu.Unlock()
	a.log.line("host", "stopped")
	a.emit(Event{Kind: EventStop})
}

// queueEvent, peekEvent and popEvent keep the app's pending system events.
func (a *app) queueEvent(e SystemEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.img == nil || a.img.manifest == nil || !a.img.manifest.Capabilities.SystemEventNotifications {
		return
	}
	if len(a.events) >= maxEventQueue {
		a.events = a.events[1:]
	}
	a.events = append(a.events, e)
}

func (a *app) peekEvent() (SystemEvent, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) == 0 {
		return SystemEvent{}, false
	}
	return a.events[0], true
}

func (a *app) popEvent() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) > 0 {
		a.events = a.events[1:]
	}
}
