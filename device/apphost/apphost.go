// Package apphost runs the device's applications, each compartmentalised in its own
// WebAssembly module instance (wazero), with no way out but the host functions its app
// manifest grants. It is DESIGN section 1's dynamic compartmentalisation.
//
// # Layout
//
// The host reads what the update client installs in the state folder, and owns the rest:
//
//	apps/<component_id>/current            the current image ID (written by the update client)
//	apps/<component_id>/<image_id>/app.wasm      the module
//	apps/<component_id>/<image_id>/manifest.json the app manifest
//	appdata/<component_id>/                the app's private storage, kept across updates, sealed
//	                                       under the runtime's storage key (see [SealStorage])
//	applogs/<component_id>.log             the app's log, at most MaxLogSize bytes
//	cache/wazero/                          compiled modules, so that restarts are fast
//
// # Sandbox
//
// Every app gets its own module instance of one shared runtime: its own linear memory, at most
// Options.MemoryLimitMiB; WASI preview 1 with its arguments set to [name], no environment, no
// preopened folder but, for an app with DeviceAuthentication, the read-only [DeviceAuthDir]
// holding the device's certificate chain (never its key), stdin empty, stdout and stderr to its log, real clocks and randomness; and
// the "rampart" host module ([HostModule]), whose functions are deny by default: each checks
// the manifest and returns an error code (ErrDenied, ErrInvalid, …), never traps, and
// bounds-checks every access to the app's memory.
//
// # Supervision
//
// Each app runs on its own goroutine with its own context; stopping it cancels the context,
// which ends even an app in an infinite loop. An app that exits or traps, for whatever reason,
// is restarted after a backoff of 1 s, doubling to at most 5 minutes, and back to 1 s once a
// run has lasted 10 minutes. An image that cannot run at all (not WebAssembly, imports that
// the host does not provide, no _start) is refused: the app is "crashed" until an update or
// Start. Every exit, trap, panic line, restart and refusal is an [Event].
//
// # Host ABI
//
// Module "rampart"; every parameter and result is an i32; pointers and lengths address the
// app's memory.
//
//	log(level, msg, msg_len) → 0                     level 0 debug … 3 error
//	gpio_set(pin, value) → 0                          Gpio
//	gpio_get(pin) → 0|1                               Gpio
//	net_dial(host, host_len, port) → handle           AllowedConnections
//	net_dial_tls(host, host_len, port, flags) → handle  AllowedConnections; flags&1 (device
//	                                                  certificate) needs DeviceAuthentication
//	net_write(handle, buf, buf_len) → n               n ≤ MaxIO
//	net_read(handle, buf, buf_len, timeout_ms) → n    0 at end of stream; timeout_ms < 0 waits
//	net_close(handle) → 0
//	storage_write(name, name_len, data, data_len) → 0 MutableStorage; quota checked
//	storage_read(name, name_len, buf, buf_len) → n    MutableStorage
//	storage_size(name, name_len) → size               MutableStorage
//	storage_delete(name, name_len) → 0                MutableStorage
//	storage_list(buf, buf_len) → n                    MutableStorage; names, '\n' after each
//	events_next(buf, buf_len) → n                     SystemEventNotifications; JSON, 0 if none
//	update_defer(kind, minutes) → 0                   SoftwareUpdateDeferral; kind 1 app, 2 runtime
//	update_resume(kind) → 0                           SoftwareUpdateDeferral; ends the app's deferral
//	device_auth_ready() → 0|1
//	net_ready() → 0|1
//	net_interfaces(buf, buf_len) → n                  n interfaces, records of 32 bytes as fit
//
// Error codes: ErrDenied −1, ErrInvalid −2, ErrQuota −3, ErrIO −4, ErrTimeout −5,
// ErrNotFound −6, ErrTooSmall −7, ErrTLS −8, ErrLimit −9, ErrUnavailable −10. Package sdk
// wraps them for apps.
package apphost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Folders of the state folder that the host owns. It reads apps/ (state.DirApps), which the
// update client writes.
const (
	DirAppData = "appdata"
	DirAppLogs = "applogs"
	DirCache   = "cache/wazero"
)

// DefaultMemoryLimitMiB is each app's memory limit unless Options says otherwise.
const DefaultMemoryLimitMiB = 16

// MaxModuleSize bounds an app's module file.
const MaxModuleSize = 64 << 20

// Options tune a Host. The zero value is usable.
type Options struct {
	// MemoryLimitMiB bounds each app's linear memory; DefaultMemoryLimitMiB if 0.
	MemoryLimitMiB int
	// Dialer opens apps' outbound TCP connections; a net.Dialer if nil.
	Dialer Dialer
	// DeviceCertificate returns the device certificate and its (Alias) key for apps with
	// DeviceAuthentication. The key is used by the host's TLS stack and never reaches an app.
	// If nil, or if it fails, such connections fail with ErrUnavailable.
	DeviceCertificate func() (*tls.Certificate, error)
	// NetworkReady reports whether the device's network works, for apps that ask (Azure
	// Sphere's Networking_IsNetworkingReady); stage 1 answers whether its last check-in reached
	// the service. If nil, the network is never ready.
	NetworkReady func() bool
	// NetworkInterfaces lists the device's network interfaces for apps that ask (Azure
	// Sphere's Networking_GetInterfaces); SystemInterfaces if nil.
	NetworkInterfaces func() ([]NetInterface, error)
	// ExtraRootCAs are trusted for apps' TLS in addition to the system's roots.
	ExtraRootCAs []*x509.Certificate
	// VerifyImage, if set, checks an image before the host compiles it: imageDir is
	// apps/<component_id>/<image_id>, module and appManifest the bytes the host will run and
	// obey. Stage 1 sets it to check package.hdr's signature and the module's SHA-256 (DESIGN
	// section 1: signatures are checked before every run). An image it refuses is crashed.
	VerifyImage func(imageDir string, module, appManifest []byte) error
	// StorageKey is the runtime's storage key (32 bytes), under which apps' storage is sealed
	// (see [SealStorage]). Without it, apps' storage calls fail with ErrUnavailable.
	StorageKey []byte
	// Events receives what happens to apps, from any goroutine; it must not block for long.
	Events func(Event)
	// Now and After are the clock of supervision (backoff, deferrals); time.Now and time.After
	// if nil. Apps themselves always see the real clock.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Host runs the apps installed in a state folder.
type Host struct {
	dir   string
	opt   Options
	rt    wazero.Runtime
	cache wazero.CompilationCache
	roots *x509.CertPool
	base  context.Context // parent of every run; cancelled by Close
	stop  context.CancelFunc

	ctl sync.Mutex // serialises Sync, Start, Stop and Close

	mu      sync.Mutex      // guards what follows
	apps    map[string]*app // by component ID
	pins    map[int]int
	pending map[string]*pendingUpdate // by update kind
	resumed chan struct{}             // Resumed
	closed  bool
}

// ErrClosed is returned by a Host's methods after Close.
var ErrClosed = errors.New("app host closed")

// ErrNoApp is returned by Start and Stop for an app that is not installed.
var ErrNoApp = errors.New("no such app")

// New returns a host for the apps in the state folder dir. It starts none: call Sync.
func New(dir string, opt Options) (*Host, error) {
	if opt.MemoryLimitMiB == 0 {
		opt.MemoryLimitMiB = DefaultMemoryLimitMiB
	}
	if opt.MemoryLimitMiB < 1 || opt.MemoryLimitMiB > 4096 {
		return nil, fmt.Errorf("app memory limit %d MiB: want 1 to 4096", opt.MemoryLimitMiB)
	}
	if opt.Dialer == nil {
		opt.Dialer = &net.Dialer{}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.After == nil {
		opt.After = time.After
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, c := range opt.ExtraRootCAs {
		roots.AddCert(c)
	}
	cacheDir := filepath.Join(dir, DirCache)
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("app host: %w", err)
	}
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("app host: compilation cache: %w", err)
	}
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(uint32(opt.MemoryLimitMiB) * 16). // 64 KiB pages
		WithCompilationCache(cache).
		WithCloseOnContextDone(true)
	h := &Host{
		dir: dir, opt: opt, cache: cache, roots: roots,
		rt:      wazero.NewRuntimeWithConfig(ctx, cfg),
		apps:    map[string]*app{},
		pins:    map[int]int{},
		pending: map[string]*pendingUpdate{},
		resumed: make(chan struct{}, 1),
	}
	h.base, h.stop = context.WithCancel(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.rt); err != nil {
		h.rt.Close(ctx)
		cache.Close(ctx)
		return nil, fmt.Errorf("app host: WASI: %w", err)
	}
	if err := h.instantiateHostModule(ctx, h.rt); err != nil {
		h.rt.Close(ctx)
		cache.Close(ctx)
		return nil, fmt.Errorf("app host: host module: %w", err)
	}
	return h, nil
}

func (h *Host) now() time.Time { return h.opt.Now() }

// path returns a path in the state folder.
func (h *Host) path(elem ...string) string {
	return filepath.Join(append([]string{h.dir}, elem...)...)
}

// State is an app's state.
type State string

// The states of an app.
const (
	StateRunning State = "running"
	StateStopped State = "stopped" // never started, stopped by Stop, or the host is closing
	StateCrashed State = "crashed" // its image was refused: it cannot run until an update or Start
	StateBackoff State = "backoff" // it exited or trapped and waits to be restarted
)

// AppStatus is what List says about an app.
type AppStatus struct {
	Name        string `json:"name"`
	ComponentID string `json:"component_id"`
	ImageID     string `json:"image_id"`
	State       State  `json:"state"`
	Restarts    int    `json:"restarts"` // since the host started it last
	LastExit    *Exit  `json:"last_exit,omitempty"`
	Error       string `json:"error,omitempty"` // why its image was refused
	Pins        []Pin  `json:"pins,omitempty"`  // the pins it is granted, with their values
}

// Exit is how a run of an app ended.
type Exit struct {
	At    time.Time `json:"at"`
	Code  int       `json:"code"`            // the exit code; -1 for a trap
	Trap  string    `json:"trap,omitempty"`  // the trap, for a trap
	Panic string    `json:"panic,omitempty"` // the Go panic or fatal error line it wrote, if any
	// TrapDetail is the whole trap, with the WebAssembly stack trace wazero gives.
	TrapDetail string `json:"-"`
}

// Pin is a simulated GPIO pin and its value.
type Pin struct {
	Pin   int `json:"pin"`
	Value int `json:"value"`
}

// List returns the status of every installed app, by name.
func (h *Host) List() []AppStatus {
	h.mu.Lock()
	apps := make([]*app, 0, len(h.apps))
	for _, a := range h.apps {
		apps = append(apps, a)
	}
	h.mu.Unlock()
	out := make([]AppStatus, 0, len(apps))
	for _, a := range apps {
		out = append(out, a.status())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ComponentID < out[j].ComponentID
	})
	return out
}

// lookup finds an app by component ID or, if exactly one has it, by name.
func (h *Host) lookup(name string) (*app, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if a, ok := h.apps[name]; ok {
		return a, nil
	}
	var found *app
	for _, a := range h.apps {
		if a.name() == name {
			if found != nil {
				return nil, fmt.Errorf("two apps are named %q: give a component ID", name)
			}
			found = a
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w %q", ErrNoApp, name)
	}
	return found, nil
}

// Start starts the app named name (or with that component ID), or restarts it at once if it
// waits in backoff or was refused. A running app is left alone.
func (h *Host) Start(name string) error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	a, err := h.lookup(name)
	if err != nil {
		return err
	}
	if a.state() == StateRunning {
		return nil
	}
	a.halt()
	a.mu.Lock()
	img := a.img
	a.mu.Unlock()
	if img != nil && img.err != nil {
		// Refused: read it again, in case what made it fail has been fixed.
		a.closeImage()
		img = h.loadImage(context.Background(), a.cid, img.id)
		a.setImage(img)
		if img.err != nil {
			a.emit(Event{Kind: EventRefused, Message: img.err.Error()})
		}
	}
	return a.start()
}

// Stop stops the app named name (or with that component ID) and waits for it to end. It
// stays stopped, through Sync, until Start or an update of it.
func (h *Host) Stop(name string) error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	a, err := h.lookup(name)
	if err != nil {
		return err
	}
	a.halt()
	a.mu.Lock()
	a.userStopped = true
	if a.st != StateCrashed {
		a.st = StateStopped
	}
	a.mu.Unlock()
	return nil
}

// Close stops every app and releases the runtime. Apps' storage and logs stay.
func (h *Host) Close() error {
	h.ctl.Lock()
	defer h.ctl.Unlock()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	apps := h.apps
	h.mu.Unlock()
	h.stop()
	for _, a := range apps {
		a.halt()
		a.closeImage()
		a.log.close()
	}
	ctx := context.Background()
	err := h.rt.Close(ctx)
	h.cache.Close(ctx)
	return err
}

// emit sends e to the Events sink.
func (h *Host) emit(e Event) {
	if h.opt.Events != nil {
		h.opt.Events(e)
	}
}

// setPin and pin keep the simulated GPIO pins.
func (h *Host) setPin(pin, v int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pins[pin] = v
}

func (h *Host) pin(pin int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pins[pin]
}
