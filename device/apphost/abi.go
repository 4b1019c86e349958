package apphost

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rampart-iot/rampart/format/safetext"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// HostModule is the import module name of the host functions.
const HostModule = "rampart"

// Error codes returned by host functions: a call returns a count, a handle or one of these.
// sdk.Error has the same values.
const (
	ErrDenied      = -1  // the manifest does not grant this
	ErrInvalid     = -2  // a bad argument, or guest memory out of bounds
	ErrQuota       = -3  // the write would exceed the MutableStorage quota, or MaxFiles
	ErrIO          = -4  // the host's I/O failed
	ErrTimeout     = -5  // nothing arrived in time
	ErrNotFound    = -6  // no such file, or no pending update to defer
	ErrTooSmall    = -7  // the guest's buffer is too small for the answer
	ErrTLS         = -8  // the TLS handshake failed
	ErrLimit       = -9  // too many open connections
	ErrUnavailable = -10 // no device certificate yet
)

// Limits on what one call may ask of the host.
const (
	MaxLogMessage = 4096     // longer log messages are cut
	MaxIO         = 64 << 10 // longer reads and writes are shortened
	MaxConns      = 16       // open connections per app
	MaxFiles      = 256      // files per app, whatever the quota
	maxEventQueue = 16       // pending system events kept per app
	maxHostLen    = 253      // a DNS name
)

// Longest update deferrals (Azure Sphere's).
const (
	MaxDeferApplication = 167 * time.Hour
	MaxDeferRuntime     = 24 * time.Hour
)

// call is one host function call: the run that made it and its linear memory.
type call struct {
	ctx context.Context
	run *run
	mem api.Memory
}

// bytes returns the guest's bytes [ptr, ptr+n), or false if they are out of bounds. The slice
// aliases guest memory: use it before returning to the guest.
func (c *call) bytes(ptr, n uint32) ([]byte, bool) {
	if c.mem == nil {
		return nil, n == 0
	}
	return c.mem.Read(ptr, n)
}

// string copies the guest's string [ptr, ptr+n) if it is at most limit bytes.
func (c *call) string(ptr, n uint32, limit int) (string, bool) {
	if int64(n) > int64(limit) {
		return "", false
	}
	b, ok := c.bytes(ptr, n)
	return string(b), ok
}

// hostFunc is a host function over i32 parameters with an i32 result.
type hostFunc struct {
	name   string
	params []string
	fn     func(c *call, a []uint32) int32
}

// hostFuncs is the ABI: every function of the "rampart" module.
var hostFuncs = []hostFunc{
	{"log", []string{"level", "msg", "msg_len"}, hostLog},
	{"gpio_set", []string{"pin", "value"}, hostGPIOSet},
	{"gpio_get", []string{"pin"}, hostGPIOGet},
	{"net_dial", []string{"host", "host_len", "port"}, hostNetDial},
	{"net_dial_tls", []string{"host", "host_len", "port", "flags"}, hostNetDialTLS},
	{"net_write", []string{"handle", "buf", "buf_len"}, hostNetWrite},
	{"net_read", []string{"handle", "buf", "buf_len", "timeout_ms"}, hostNetRead},
	{"net_close", []string{"handle"}, hostNetClose},
	{"storage_write", []string{"name", "name_len", "data", "data_len"}, hostStorageWrite},
	{"storage_read", []string{"name", "name_len", "buf", "buf_len"}, hostStorageRead},
	{"storage_size", []string{"name", "name_len"}, hostStorageSize},
	{"storage_delete", []string{"name", "name_len"}, hostStorageDelete},
	{"storage_list", []string{"buf", "buf_len"}, hostStorageList},
	{"events_next", []string{"buf", "buf_len"}, hostEventsNext},
	{"update_defer", []string{"kind", "minutes"}, hostUpdateDefer},
	{"update_resume", []string{"kind"}, hostUpdateResume},
	{"device_auth_ready", nil, hostDeviceAuthReady},
	{"net_ready", nil, hostNetReady},
	{"net_interfaces", []string{"buf", "buf_len"}, hostNetInterfaces},
}

// runKey carries the calling run in the context of its _start call.
type runKey struct{}

// instantiateHostModule defines the "rampart" module in r. Each function finds its caller's
// run in the context, never traps (a panic becomes ErrIO and an event), and never blocks
// past the run's end.
func (h *Host) instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(HostModule)
	for _, f := range hostFuncs {
		params := make([]api.ValueType, len(f.params))
		for i := range params {
			params[i] = api.ValueTypeI32
		}
		b.NewFunctionBuilder().
			WithGoModuleFunction(h.wrap(f), params, []api.ValueType{api.ValueTypeI32}).
			WithParameterNames(f.params...).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func (h *Host) wrap(f hostFunc) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		res := int32(ErrInvalid)
		defer func() {
			if p := recover(); p != nil {
				res = ErrIO
				if r, _ := ctx.Value(runKey{}).(*run); r != nil {
					r.app.emit(Event{Kind: EventHostPanic, Message: fmt.Sprintf("host function %s: %v", f.name, p)})
					r.app.log.line("host", fmt.Sprintf("panic in host function %s: %v\n%s", f.name, p, debug.Stack()))
				}
			}
			stack[0] = api.EncodeI32(res)
		}()
		r, _ := ctx.Value(runKey{}).(*run)
		if r == nil {
			res = ErrDenied // called outside an app run: nothing is granted
			return
		}
		args := make([]uint32, len(f.params))
		for i := range args {
			args[i] = api.DecodeU32(stack[i])
		}
		res = f.fn(&call{ctx: ctx, run: r, mem: mod.Memory()}, args)
	}
}

// Log levels of the log function.
var levelNames = []string{"DEBUG", "INFO", "WARN", "ERROR"}

// hostLog: log(level, msg, msg_len) → 0. Messages over MaxLogMessage are cut.
func hostLog(c *call, a []uint32) int32 {
	level, n := a[0], min(a[2], MaxLogMessage)
	if level >= uint32(len(levelNames)) {
		return ErrInvalid
	}
	msg, ok := c.bytes(a[1], n)
	if !ok {
		return ErrInvalid
	}
	c.run.app.log.line(levelNames[level], safetext.Block(string(msg), 0))
	return 0
}

// hostGPIOSet: gpio_set(pin, value) → 0, for a pin the manifest lists; value is 0 or 1.
func hostGPIOSet(c *call, a []uint32) int32 {
	pin, v := a[0], a[1]
	if !c.run.img.grantsPin(pin) {
		return ErrDenied
	}
	if v > 1 {
		return ErrInvalid
	}
	c.run.app.h.setPin(int(pin), int(v))
	return 0
}

// hostGPIOGet: gpio_get(pin) → 0 or 1, for a pin the manifest lists.
func hostGPIOGet(c *call, a []uint32) int32 {
	if !c.run.img.grantsPin(a[0]) {
		return ErrDenied
	}
	return int32(c.run.app.h.pin(int(a[0])))
}

// hostEventsNext: events_next(buf, buf_len) → n, the length of the JSON of the oldest pending
// system event written to buf, or 0 when none is pending. Needs SystemEventNotifications.
func hostEventsNext(c *call, a []uint32) int32 {
	if !c.run.img.manifest.Capabilities.SystemEventNotifications {
		return ErrDenied
	}
	buf, ok := c.bytes(a[0], a[1])
	if !ok {
		return ErrInvalid
	}
	ev, ok := c.run.app.peekEvent()
	if !ok {
		return 0
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return ErrIO
	}
	if len(b) > len(buf) {
		return ErrTooSmall
	}
	copy(buf, b)
	c.run.app.popEvent()
	return int32(len(b))
}

// Update kinds of update_defer.
const (
	deferApplication = 1
	deferRuntime     = 2
)

// updateKind maps update_defer's and update_resume's kind (1 application, 2 runtime).
func updateKind(k uint32) (string, bool) {
	switch k {
	case deferApplication:
		return UpdateApplication, true
	case deferRuntime:
		return UpdateRuntime, true
	}
	return "", false
}

// hostUpdateDefer: update_defer(kind, minutes) → 0. Needs SoftwareUpdateDeferral; kind 1 is an
// application update, 2 a runtime update; ErrNotFound when none of that kind is pending.
func hostUpdateDefer(c *call, a []uint32) int32 {
	if !c.run.img.manifest.Capabilities.SoftwareUpdateDeferral {
		return ErrDenied
	}
	kind, ok := updateKind(a[0])
	if !ok {
		return ErrInvalid
	}
	d := time.Duration(a[1]) * time.Minute
	if a[1] == 0 || d > maxDefer(kind) {
		return ErrInvalid
	}
	if !c.run.app.h.deferUpdate(c.run.app.cid, kind, d) {
		return ErrNotFound
	}
	c.run.app.log.line("host", fmt.Sprintf("deferred the pending %s update by %s", kind, d))
	return 0
}

// hostUpdateResume: update_resume(kind) → 0: the app ends its own deferral of the pending
// update of kind, which goes ahead unless another app's deferral holds it. Needs
// SoftwareUpdateDeferral; ErrNotFound when the app holds no deferral of that kind.
func hostUpdateResume(c *call, a []uint32) int32 {
	if !c.run.img.manifest.Capabilities.SoftwareUpdateDeferral {
		return ErrDenied
	}
	kind, ok := updateKind(a[0])
	if !ok {
		return ErrInvalid
	}
	if !c.run.app.h.resumeUpdate(c.run.app.cid, kind) {
		return ErrNotFound
	}
	c.run.app.log.line("host", fmt.Sprintf("resumed the pending %s update", kind))
	return 0
}

// hostDeviceAuthReady: device_auth_ready() → 1 if the device has a certificate for TLS with
// device authentication (it has attested), else 0. It needs no capability, as Azure Sphere's
// Application_IsDeviceAuthReady; using the certificate needs DeviceAuthentication.
func hostDeviceAuthReady(c *call, _ []uint32) int32 {
	get := c.run.app.h.opt.DeviceCertificate
	if get == nil {
		return 0
	}
	if cert, err := get(); err != nil || cert == nil {
		return 0
	}
	return 1
}

// hostNetReady: net_ready() → 1 if the device's network works (Options.NetworkReady), else 0.
// It needs no capability, as Azure Sphere's Networking_IsNetworkingReady; connecting needs
// AllowedConnections.
func hostNetReady(c *call, _ []uint32) int32 {
	if f := c.run.app.h.opt.NetworkReady; f != nil && f() {
		return 1
	}
	return 0
}
