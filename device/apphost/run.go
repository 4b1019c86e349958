package apphost

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"
)

// runOnce runs img's _start in a fresh instance until it returns or ctx ends. It returns how
// the run ended, or why the image cannot run at all.
func (a *app) runOnce(ctx context.Context, img *image) (*Exit, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{app: a, img: img, ctx: ctx, conns: map[uint32]net.Conn{}}
	defer context.AfterFunc(ctx, r.closeAll)()
	defer r.closeAll()

	if img.quota() >= 0 {
		cleanStorage(a.dataDir())
	}
	stdout := &stream{log: a.log, source: "stdout"}
	stderr := &stream{log: a.log, source: "stderr"}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: instances never clash
		WithArgs(img.manifest.Name).
		WithStdout(stdout).
		WithStderr(stderr).
		WithStartFunctions(). // _start is called below, so that a failure to link is told apart
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) {
			t := time.NewTimer(time.Duration(ns))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}).
		WithOsyield(runtime.Gosched).
		WithRandSource(rand.Reader)
	if img.manifest.Capabilities.DeviceAuthentication {
		// ReadFS: an open for writing fails (EROFS), not just the writes.
		certs := &sysfs.ReadFS{FS: &sysfs.AdaptFS{FS: deviceAuthFS{cert: a.h.opt.DeviceCertificate}}}
		cfg = cfg.WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(certs, DeviceAuthDir))
	}

	a.mu.Lock()
	a.st = StateRunning
	a.mu.Unlock()
	a.log.line("host", "starting image "+img.id)
	a.emit(Event{Kind: EventStart})
	mod, err := a.h.rt.InstantiateModule(ctx, img.compiled, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return &Exit{At: a.h.now(), Code: -1}, nil
		}
		return nil, fmt.Errorf("module cannot be instantiated: %w", err)
	}
	defer mod.Close(context.Background())
	_, err = mod.ExportedFunction("_start").Call(context.WithValue(ctx, runKey{}, r))
	stdout.flush()
	exit := &Exit{At: a.h.now(), Panic: stderr.flush()}
	var ee *sys.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		exit.Code = int(int32(ee.ExitCode()))
	default:
		exit.Code = -1
		exit.Trap, _, _ = strings.Cut(err.Error(), "\n")
		exit.TrapDetail = err.Error()
		a.log.line("host", "trap: "+err.Error())
	}
	if ctx.Err() == nil {
		a.log.line("host", fmt.Sprintf("exited with code %d", exit.Code))
	}
	return exit, nil
}

// run is one run of an app: what its host calls share.
type run struct {
	app *app
	img *image
	ctx context.Context // ends when the run does

	mu     sync.Mutex
	conns  map[uint32]net.Conn
	next   uint32
	closed bool
}

func (r *run) canOpen() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.closed && len(r.conns) < MaxConns
}

// dial opens a TCP connection to addr, for at most dialTimeout or the run.
func (r *run) dial(addr string) (net.Conn, int32) {
	ctx, cancel := context.WithTimeout(r.ctx, dialTimeout)
	defer cancel()
	conn, err := r.app.h.opt.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		r.app.log.line("host", "dial "+addr+": "+err.Error())
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, ErrTimeout
		}
		return nil, ErrIO
	}
	return conn, 0
}

// addConn gives conn a handle.
func (r *run) addConn(conn net.Conn) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.conns) >= MaxConns {
		conn.Close()
		return ErrLimit
	}
	r.next++
	if r.next > 1<<31-1 {
		r.next = 1
	}
	r.conns[r.next] = conn
	return int32(r.next)
}

func (r *run) conn(h uint32) net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[h]
}

func (r *run) closeConn(h uint32) bool {
	r.mu.Lock()
	c, ok := r.conns[h]
	delete(r.conns, h)
	r.mu.Unlock()
	if ok {
		c.Close()
	}
	return ok
}

// closeAll closes every connection of the run and refuses new ones: it unblocks host calls
// waiting on the network when the run is stopped.
func (r *run) closeAll() {
	r.mu.Lock()
	conns := r.conns
	r.conns, r.closed = map[uint32]net.Conn{}, true
	r.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
