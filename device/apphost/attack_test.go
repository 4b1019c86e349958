package apphost_test

// Tests named for the attack, or the fault, that the host stops: what an app may try beyond
// its manifest, and what it may do to its neighbours and to the host.

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
)

func TestAppConnectToHostNotInManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	allowed, other := startServer(t, nil), startServer(t, nil)
	m := app("dialer", manifest.Capabilities{
		AllowedConnections: []string{fmt.Sprintf("127.0.0.1:%d", allowed.port), "localhost"},
		MutableStorage:     &manifest.MutableStorage{SizeKB: 4},
	})
	e.install(m, wasm["probe"])
	e.script(m,
		fmt.Sprintf("dial 127.0.0.1 %d", allowed.port),
		fmt.Sprintf("dial 127.0.0.1 %d", other.port),   // the host, another port
		fmt.Sprintf("dial 127.0.0.2 %d", allowed.port), // another host, the port
		fmt.Sprintf("dial 127.1 %d", allowed.port),     // the host, spelt otherwise: not an IP to the host
		fmt.Sprintf("dial localhost %d", other.port),   // a bare host allows any port
		"dial example.com 443",
		"dial 127.0.0.1:1 1",
		fmt.Sprintf("dial 127.0.0.1 %d", 70000),
	)
	e.sync()
	e.expect(m, map[string]string{
		fmt.Sprintf("dial 127.0.0.1 %d", allowed.port): "ok pong",
		fmt.Sprintf("dial 127.0.0.1 %d", other.port):   "err -1",
		fmt.Sprintf("dial 127.0.0.2 %d", allowed.port): "err -1",
		fmt.Sprintf("dial 127.1 %d", allowed.port):     "err -1",
		fmt.Sprintf("dial localhost %d", other.port):   "ok pong",
		"dial example.com 443":                         "err -1",
		"dial 127.0.0.1:1 1":                           "err -2",
		fmt.Sprintf("dial 127.0.0.1 %d", 70000):        "err -2",
	})
	if n := other.count(); n != 1 {
		t.Errorf("the other server accepted %d connections, want 1 (through localhost)", n)
	}
}

func TestAppWritePastStorageQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("writer", manifest.Capabilities{MutableStorage: &manifest.MutableStorage{SizeKB: 1}})
	e.install(m, wasm["probe"])
	// The script is a file in the store too: size the writes around what it leaves. The
	// placeholder 100 has as many digits as the real sizes, so the script's size is known.
	lines := func(fill int) []string {
		return []string{
			fmt.Sprintf("put a %d", fill),
			"put b 11",                       // one byte over
			"put b 10",                       // exactly full
			"put c 0",                        // full, but an empty file fits
			"put a 1",                        // shrinking a file is always possible
			fmt.Sprintf("put b %d", fill+10), // b may grow into a's space, but not past it
			fmt.Sprintf("put b %d", fill+9),
			"put big 2000", // over the whole quota
			"list",
		}
	}
	size := len(strings.Join(lines(100), "\n")) + 1
	fill := 1024 - size - 10
	script := lines(fill)
	if len(strings.Join(script, "\n"))+1 != size {
		t.Fatal("the script's size changed")
	}
	e.script(m, script...)
	e.sync()
	e.expect(m, map[string]string{
		script[0]:      "ok",
		"put b 11":     "err -3",
		"put b 10":     "ok",
		"put c 0":      "ok",
		"put a 1":      "ok",
		script[5]:      "err -3",
		script[6]:      "ok",
		"put big 2000": "err -3",
		"list":         "ok a,b,c,script",
	})
	var total int64
	entries, _ := os.ReadDir(filepath.Join(e.dir, apphost.DirAppData, m.ComponentId))
	for _, d := range entries {
		fi, _ := d.Info()
		total += fi.Size() - int64(apphost.SealOverhead)
	}
	if total > 1024 {
		t.Errorf("the app's store holds %d bytes, over its 1024", total)
	}
}

func TestAppStorageWithoutCapability(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{After: func(time.Duration) <-chan time.Time { return nil }})
	m := app("nostorage", manifest.Capabilities{})
	e.install(m, wasm["probe"])
	e.script(m, "list") // put there behind its back: it still cannot read it
	e.sync()
	ev := e.rec.wait(t, m.ComponentId, apphost.EventExit)
	if ev.ExitCode != 3 || !strings.Contains(e.log(m.ComponentId), "no script: rampart: not granted by the app manifest") {
		t.Errorf("exit %d; log:\n%s", ev.ExitCode, e.log(m.ComponentId))
	}
}

func TestAppReadsAnotherAppsStorage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	storage := &manifest.MutableStorage{SizeKB: 4}
	victim := app("victim", manifest.Capabilities{MutableStorage: storage})
	thief := app("thief", manifest.Capabilities{MutableStorage: storage})
	e.install(victim, wasm["probe"])
	e.script(victim, "put secret 6")
	e.sync()
	e.results(victim) // wait for its secret before the thief looks
	e.install(thief, wasm["probe"])
	up := "../" + victim.ComponentId + "/"
	e.script(thief,
		"get "+up+"secret",
		"get secret",
		"put "+up+"planted 1",
		"get ..",
		"get .",
		"get /etc/passwd",
		"get .script.tmp1",
		"del "+up+"script",
		"list",
	)
	e.sync()
	e.expect(thief, map[string]string{
		"get " + up + "secret":    "err -2",
		"get secret":              "err -6",
		"put " + up + "planted 1": "err -2",
		"get ..":                  "err -2",
		"get .":                   "err -2",
		"get /etc/passwd":         "err -2",
		"get .script.tmp1":        "err -2",
		"del " + up + "script":    "err -2",
		"list":                    "ok script",
	})
	if _, err := os.Stat(filepath.Join(e.dir, apphost.DirAppData, victim.ComponentId, "planted")); err == nil {
		t.Error("the thief planted a file in the victim's store")
	}
	if _, err := os.Stat(filepath.Join(e.dir, apphost.DirAppData, victim.ComponentId, "script")); err != nil {
		t.Error("the victim's script is gone")
	}
}

func TestAppUsesPinNotGranted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("pins", manifest.Capabilities{Gpio: []int{5}, MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	e.install(m, wasm["probe"])
	e.script(m, "set 5 1", "pin 5", "set 7 1", "pin 7", "set 1023 1", "pin 4294967295")
	e.sync()
	e.expect(m, map[string]string{
		"set 5 1":        "ok",
		"pin 5":          "ok true",
		"set 7 1":        "err -1",
		"pin 7":          "err -1",
		"set 1023 1":     "err -1",
		"pin 4294967295": "err -2", // refused by the SDK before the host
	})
	s := e.status(m.ComponentId)
	if len(s.Pins) != 1 || s.Pins[0] != (apphost.Pin{Pin: 5, Value: 1}) {
		t.Errorf("pins %+v, want pin 5 at 1 only", s.Pins)
	}
}

func TestAppAllocatesWithoutBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{MemoryLimitMiB: 32})
	hog := app("hog", manifest.Capabilities{})
	ticker := app("ticker", manifest.Capabilities{})
	e.install(hog, wasm["probe"])
	e.install(ticker, wasm["probe"])
	e.sync()
	waitFor(t, "the hog to fail", func() bool {
		return len(e.rec.of(hog.ComponentId, apphost.EventExit))+len(e.rec.of(hog.ComponentId, apphost.EventTrap)) > 0
	})
	s := e.status(hog.ComponentId)
	if s.LastExit == nil || s.LastExit.Code == 0 {
		t.Fatalf("hog: %+v", s)
	}
	log := e.log(hog.ComponentId)
	if !strings.Contains(log, "allocated 17 MiB") || strings.Contains(log, "allocated 33 MiB") {
		t.Errorf("the hog did not stop between 16 and 32 MiB:\n%s", log)
	}
	if !strings.Contains(log, "out of memory") {
		t.Errorf("the hog's log does not say it ran out of memory:\n%s", log)
	}
	e.stillTicking(ticker.ComponentId)
}

func TestAppLoopsForever(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	looper := app("looper", manifest.Capabilities{})
	ticker := app("ticker", manifest.Capabilities{})
	e.install(looper, wasm["probe"])
	e.install(ticker, wasm["probe"])
	e.sync()
	waitFor(t, "the loop", func() bool { return strings.Contains(e.log(looper.ComponentId), "looping") })
	e.stillTicking(ticker.ComponentId) // while the loop spins
	if s := e.status(looper.ComponentId); s.State != apphost.StateRunning {
		t.Fatalf("looper: %s", s.State)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- e.h.Stop("looper") }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Stop of an app in an infinite loop did not return")
	}
	if s := e.status(looper.ComponentId); s.State != apphost.StateStopped || s.LastExit != nil {
		t.Errorf("looper after Stop: %+v", s)
	}
	e.stillTicking(ticker.ComponentId)
}

func TestInvalidWasmRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, module, want string
	}{
		{"garbage", "this is not WebAssembly", "not valid WebAssembly"},
		{"truncated", string(wasm["probe"][:4096]), "not valid WebAssembly"},
		{"too much memory", string(module(nil, 300, nil)), "over limit"},
		{"no start", string(moduleNoStart()), "no _start"},
	}
	e := newEnv(t, apphost.Options{})
	ticker := app("ticker", manifest.Capabilities{})
	e.install(ticker, wasm["probe"])
	var ms []*manifest.App
	for _, c := range cases {
		m := app(strings.ReplaceAll(c.name, " ", "-"), manifest.Capabilities{})
		e.install(m, []byte(c.module))
		ms = append(ms, m)
	}
	err := e.h.Sync(context.Background())
	for i, c := range cases {
		m := ms[i]
		if err == nil || !strings.Contains(err.Error(), m.ComponentId) {
			t.Errorf("%s: Sync error %v does not name the app", c.name, err)
		}
		s := e.status(m.ComponentId)
		if s.State != apphost.StateCrashed || !strings.Contains(s.Error, c.want) {
			t.Errorf("%s: state %s, error %q; want crashed, %q", c.name, s.State, s.Error, c.want)
		}
		if ev := e.rec.of(m.ComponentId, apphost.EventRefused); len(ev) != 1 || !strings.Contains(ev[0].Message, c.want) {
			t.Errorf("%s: refusal events %+v", c.name, ev)
		}
	}
	e.stillTicking(ticker.ComponentId)
}

func TestModuleImportingUnknownFunction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("badimport", manifest.Capabilities{})
	e.install(m, wasm["badimport"])
	err := e.h.Sync(context.Background())
	const want = "module imports rampart.nonexistent, which this host does not provide"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sync: %v, want an error saying %q", err, want)
	}
	ev := e.rec.wait(t, m.ComponentId, apphost.EventRefused)
	if ev.Message != want || ev.App != "badimport" {
		t.Errorf("event %+v", ev)
	}
	if s := e.status(m.ComponentId); s.State != apphost.StateCrashed {
		t.Errorf("state %s, want crashed", s.State)
	}
	// Another module, importing from a module that does not exist at all.
	other := app("envimport", manifest.Capabilities{})
	e.install(other, module([]imp{{"env", "abort", 0, false}}, 1, nil))
	if err := e.h.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "imports env.abort") {
		t.Errorf("Sync: %v", err)
	}
}

func TestCrashStormBackoff(t *testing.T) {
	t.Parallel()
	const restarts = 12
	var mu sync.Mutex
	var waits []time.Duration
	after := func(d time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		ch := make(chan time.Time, 1)
		if len(waits) <= restarts {
			ch <- time.Now() // no need to wait for real
		}
		return ch
	}
	e := newEnv(t, apphost.Options{After: after})
	crasher := app("crasher", manifest.Capabilities{})
	ticker := app("ticker", manifest.Capabilities{})
	e.install(crasher, wasm["probe"])
	e.install(ticker, wasm["probe"])
	e.sync()
	waitFor(t, "the crash storm to end in a long backoff", func() bool {
		return len(e.rec.of(crasher.ComponentId, apphost.EventRestart)) == restarts+1
	})
	var got []time.Duration
	for _, ev := range e.rec.of(crasher.ComponentId, apphost.EventRestart) {
		got = append(got, ev.Backoff)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300}
	for i := range want {
		want[i] *= time.Second
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("backoffs %v, want %v", got, want)
	}
	for _, ev := range e.rec.of(crasher.ComponentId, apphost.EventExit) {
		if ev.ExitCode != 1 {
			t.Errorf("exit event %+v", ev)
		}
	}
	s := e.status(crasher.ComponentId)
	if s.State != apphost.StateBackoff || s.Restarts != restarts || s.LastExit == nil || s.LastExit.Code != 1 {
		t.Errorf("crasher: %+v", s)
	}
	e.stillTicking(ticker.ComponentId)
	// Start cuts the backoff short.
	if err := e.h.Start("crasher"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a start after Start", func() bool { return len(e.rec.of(crasher.ComponentId, apphost.EventStart)) == restarts+2 })
}

func TestDeviceAuthenticationWithoutCapability(t *testing.T) {
	t.Parallel()
	root := newCA(t, "test CA")
	device := root.issue(t, "device-1", false)
	srv := startServer(t, &tls.Config{
		Certificates: []tls.Certificate{*root.issue(t, "broker", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: root.pool(),
	})
	e := newEnv(t, apphost.Options{
		ExtraRootCAs:      []*x509.Certificate{root.cert},
		DeviceCertificate: func() (*tls.Certificate, error) { return device, nil },
	})
	m := app("impostor", manifest.Capabilities{
		AllowedConnections: []string{fmt.Sprintf("127.0.0.1:%d", srv.port)},
		MutableStorage:     &manifest.MutableStorage{SizeKB: 4},
	})
	e.install(m, wasm["probe"])
	e.script(m, fmt.Sprintf("dialtls 127.0.0.1 %d 1", srv.port))
	e.sync()
	e.expect(m, map[string]string{fmt.Sprintf("dialtls 127.0.0.1 %d 1", srv.port): "err -1"})
	if n := srv.count(); n != 0 {
		t.Errorf("the server saw %d connections: the denied call reached the network", n)
	}
}

func TestAppDialTLS(t *testing.T) {
	t.Parallel()
	root, rogue := newCA(t, "test CA"), newCA(t, "rogue CA")
	device := root.issue(t, "device-1", false)
	mutual := startServer(t, &tls.Config{
		Certificates: []tls.Certificate{*root.issue(t, "broker", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: root.pool(),
	})
	plain := startServer(t, &tls.Config{Certificates: []tls.Certificate{*root.issue(t, "server", true)}})
	untrusted := startServer(t, &tls.Config{Certificates: []tls.Certificate{*rogue.issue(t, "rogue", true)}})
	e := newEnv(t, apphost.Options{
		ExtraRootCAs:      []*x509.Certificate{root.cert},
		DeviceCertificate: func() (*tls.Certificate, error) { return device, nil },
	})
	conns := []string{"127.0.0.1", "localhost"}
	m := app("tls", manifest.Capabilities{AllowedConnections: conns, DeviceAuthentication: true, MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	e.install(m, wasm["probe"])
	d := func(host string, port, cert int) string { return fmt.Sprintf("dialtls %s %d %d", host, port, cert) }
	e.script(m,
		d("127.0.0.1", mutual.port, 1),
		d("127.0.0.1", plain.port, 0),
		d("127.0.0.1", untrusted.port, 0),
		d("localhost", plain.port, 0), // the certificate names 127.0.0.1 only
	)
	// Without a device certificate yet.
	early := app("early", manifest.Capabilities{AllowedConnections: conns, DeviceAuthentication: true, MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	e2 := newEnv(t, apphost.Options{
		ExtraRootCAs:      []*x509.Certificate{root.cert},
		DeviceCertificate: func() (*tls.Certificate, error) { return nil, errors.New("not attested yet") },
	})
	e2.install(early, wasm["probe"])
	e2.script(early, d("127.0.0.1", mutual.port, 1), d("127.0.0.1", mutual.port, 0))
	e.sync()
	e2.sync()
	e.expect(m, map[string]string{
		d("127.0.0.1", mutual.port, 1):    "ok pong device-1",
		d("127.0.0.1", plain.port, 0):     "ok pong",
		d("127.0.0.1", untrusted.port, 0): "err -8",
		d("localhost", plain.port, 0):     "err -8",
	})
	res := e2.results(early)
	if got := res[d("127.0.0.1", mutual.port, 1)]; got != "err -10" {
		t.Errorf("device certificate unavailable: %q, want err -10", got)
	}
	if got := res[d("127.0.0.1", mutual.port, 0)]; strings.HasPrefix(got, "ok") {
		t.Errorf("a server requiring a client certificate answered one that gave none: %q", got)
	}
}

func TestHostFunctionsCheckGuestMemory(t *testing.T) {
	t.Parallel()
	// A hand-made module that calls host functions with pointers and lengths past its one page
	// of memory, and traps (unreachable) if any answer is not ErrInvalid.
	imports := []imp{
		{"rampart", "log", 3, true},
		{"rampart", "storage_write", 4, true},
		{"rampart", "storage_read", 4, true},
		{"rampart", "net_dial", 3, true},
		{"rampart", "events_next", 2, true},
		{"rampart", "gpio_set", 2, true},
		{"rampart", "net_interfaces", 2, true},
		{"rampart", "update_resume", 1, true},
	}
	const far int32 = -16 // 0xfffffff0
	calls := []call{
		{0, []int32{1, far, 100}, apphost.ErrInvalid},    // log past the end
		{0, []int32{1, 65530, 100}, apphost.ErrInvalid},  // log straddling the end
		{0, []int32{9, 0, 1}, apphost.ErrInvalid},        // log at a level that does not exist
		{1, []int32{0, 1, far, 10}, apphost.ErrInvalid},  // storage_write with its name out of bounds
		{1, []int32{0, 1, 65535, 2}, apphost.ErrInvalid}, // …with its data straddling the end
		{2, []int32{0, 1, far, 10}, apphost.ErrInvalid},  // storage_read
		{3, []int32{far, 9, 80}, apphost.ErrInvalid},     // net_dial
		{4, []int32{far, 1 << 30}, apphost.ErrDenied},    // events_next: not granted, first
		{5, []int32{3, 1}, apphost.ErrDenied},            // gpio_set: not granted
		{6, []int32{far, 64}, apphost.ErrInvalid},        // net_interfaces: records past the end
		{6, []int32{65530, 64}, apphost.ErrInvalid},      // …straddling it
		{6, []int32{0, 0}, 1},                            // …or none: the count
		{7, []int32{1}, apphost.ErrDenied},               // update_resume: not granted
		{0, []int32{1, 0, 5}, 0},                         // and a good call works
	}
	e := newEnv(t, apphost.Options{After: func(time.Duration) <-chan time.Time { return nil },
		NetworkInterfaces: func() ([]apphost.NetInterface, error) { return []apphost.NetInterface{{Name: "eth0"}}, nil }})
	m := app("pointers", manifest.Capabilities{Gpio: []int{1}, MutableStorage: &manifest.MutableStorage{SizeKB: 4}, AllowedConnections: []string{"localhost"}})
	e.install(m, module(imports, 1, calls))
	e.sync()
	waitFor(t, "the module to end", func() bool {
		return len(e.rec.of(m.ComponentId, apphost.EventExit))+len(e.rec.of(m.ComponentId, apphost.EventTrap)) > 0
	})
	if s := e.status(m.ComponentId); s.LastExit == nil || s.LastExit.Code != 0 {
		t.Fatalf("the module trapped: a host function answered other than expected\n%s", e.log(m.ComponentId))
	}
}

func TestTamperedImageRefused(t *testing.T) {
	t.Parallel()
	// Stage 1's VerifyImage checks the signed package header; here, the digests recorded at
	// install stand in for it.
	var mu sync.Mutex
	signed := map[string][32]byte{}
	verify := func(dir string, module, appManifest []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if sha256.Sum256(append(append([]byte(nil), module...), appManifest...)) != signed[filepath.Base(dir)] {
			return errors.New("the image is not the one signed")
		}
		return nil
	}
	e := newEnv(t, apphost.Options{VerifyImage: verify})
	m := app("ticker", manifest.Capabilities{})
	b, _ := json.MarshalIndent(m, "", "  ")
	id := e.install(m, wasm["probe"])
	mu.Lock()
	signed[id] = sha256.Sum256(append(append([]byte(nil), wasm["probe"]...), b...))
	mu.Unlock()
	// Someone with write access to the state folder grants the app a capability.
	m.Capabilities.Gpio = []int{1}
	b2, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(e.dir, state.DirApps, m.ComponentId, id, state.FileAppManifest), b2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "not the one signed") {
		t.Fatalf("Sync: %v", err)
	}
	if s := e.status(m.ComponentId); s.State != apphost.StateCrashed || len(s.Pins) != 0 {
		t.Errorf("tampered app: %+v", s)
	}
	// Put back, Start runs it.
	if err := os.WriteFile(filepath.Join(e.dir, state.DirApps, m.ComponentId, id, state.FileAppManifest), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Start(m.ComponentId); err != nil { // an unverified manifest gives no name
		t.Fatal(err)
	}
	waitFor(t, "ticks", func() bool { return e.ticks(m.ComponentId) > 0 })
}
