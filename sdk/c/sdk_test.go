// Package csdk_test runs the C SDK's own test program (testdata/sdktest.c), compiled with clang
// for wasm32-wasi, in the real app host: timers, the event loop, mutable storage, GPIO and the
// errno of refused calls.
package csdk_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/device/state"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// compile builds testdata/sdktest.c with the SDK, or skips the test when clang is missing and
// CI is not set.
func compile(t *testing.T) []byte {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and clang is missing: run scripts/test-services")
		}
		t.Skip("the C SDK's test needs clang, lld, wasi-libc and libclang-rt-14-dev-wasm32: run scripts/test-services")
	}
	srcs, _ := filepath.Glob("src/*.c")
	out := filepath.Join(t.TempDir(), "sdktest.wasm")
	args := append([]string{"--target=wasm32-wasi", "-O1", "-g", "-Wall", "-Werror", "-isystem", "include",
		"-D_WASI_EMULATED_SIGNAL", "-o", out, "testdata/sdktest.c"}, srcs...)
	args = append(args, "-lwasi-emulated-signal")
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCSDKInTheAppHost(t *testing.T) {
	module := compile(t)
	dir := t.TempDir()
	h, err := apphost.New(dir, apphost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	m := &manifest.App{SchemaVersion: 1, ComponentId: ident.NewID(), Name: "sdktest", EntryPoint: "app.wasm",
		Capabilities: manifest.Capabilities{Gpio: []int{5}, MutableStorage: &manifest.MutableStorage{SizeKB: 1}}}
	install(t, dir, m, module)
	if err := h.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, apphost.DirAppLogs, m.ComponentId+".log")
	var all string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if all = string(b); strings.Contains(all, "DONE") {
			break
		}
	}
	log, _, done := strings.Cut(all, "DONE") // the first run only: the host restarts it
	if !done {
		t.Fatalf("the test program did not finish:\n%s", log)
	}
	if fails := regexp.MustCompile(`FAIL .*`).FindAllString(log, -1); len(fails) > 0 {
		t.Errorf("%d checks failed:\n%s", len(fails), strings.Join(fails, "\n"))
	}
	src, err := os.ReadFile("testdata/sdktest.c")
	if err != nil {
		t.Fatal(err)
	}
	if n, want := strings.Count(log, "PASS "), strings.Count(string(src), "check(\""); n != want {
		t.Errorf("%d of %d checks passed:\n%s", n, want, log)
	}
	if !strings.Contains(log, "DEBUG: a log line 42") {
		t.Errorf("Log_Debug's line is not in the log:\n%s", log)
	}
}

// install puts module in the state folder as the update client does.
func install(t *testing.T, dir string, m *manifest.App, module []byte) {
	t.Helper()
	id := ident.NewID()
	img := filepath.Join(dir, state.DirApps, m.ComponentId, id)
	if err := os.MkdirAll(img, 0o700); err != nil {
		t.Fatal(err)
	}
	mb, _ := json.Marshal(m)
	for name, b := range map[string][]byte{state.FileAppManifest: mb, state.FileApp: module} {
		if err := os.WriteFile(filepath.Join(img, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := state.WriteFile(filepath.Join(dir, state.DirApps, m.ComponentId, state.FileCurrent), []byte(id+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
