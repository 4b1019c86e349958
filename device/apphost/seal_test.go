package apphost_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/device/apphost"
	"github.com/rampart-iot/rampart/format/manifest"
)

// storageFile is the path of file name in app m's storage.
func (e *env) storageFile(m *manifest.App, name string) string {
	return filepath.Join(e.dir, apphost.DirAppData, m.ComponentId, name)
}

// refused checks that app m was told nothing of its file name: the probe found no such file,
// the host logged and reported the refusal, and removed the file.
func (e *env) refused(m *manifest.App, name string) {
	e.t.Helper()
	e.expect(m, map[string]string{"get " + name: "err -6"})
	ev := e.rec.of(m.ComponentId, apphost.EventStorageRefused)
	if len(ev) != 1 || !strings.Contains(ev[0].Message, "storage file "+name+" ") {
		e.t.Errorf("storage_refused events of %s: %+v; want one naming %s", m.Name, ev, name)
	}
	if !strings.Contains(e.log(m.ComponentId), "host: storage file "+name+" ") {
		e.t.Errorf("the app's log does not say %s was refused:\n%s", name, e.log(m.ComponentId))
	}
	if _, err := os.Stat(e.storageFile(m, name)); !os.IsNotExist(err) {
		e.t.Errorf("the refused file %s is still there: %v", name, err)
	}
}

// TestStorageIsSealedAtRest: what an app writes is not on the disk in the clear, and a write
// of the same bytes again is sealed under a fresh nonce.
func TestStorageIsSealedAtRest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("sealed", manifest.Capabilities{MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	e.install(m, wasm["probe"])
	e.script(m, "put a 40", "get a")
	e.sync()
	e.expect(m, map[string]string{"put a 40": "ok", "get a": "ok " + strings.Repeat("x", 40)})
	first, err := os.ReadFile(e.storageFile(m, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(first, []byte("xxxx")) || len(first) != 40+apphost.SealOverhead || !bytes.HasPrefix(first, []byte("\x89RSEALED\x01")) {
		t.Errorf("file on disk: %q; want 40 bytes sealed", first)
	}
	if err := apphost.WriteStorageFile(e.dir, e.key, m.ComponentId, "a", []byte(strings.Repeat("x", 40))); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(e.storageFile(m, "a"))
	if bytes.Equal(first[9:21], second[9:21]) || bytes.Equal(first, second) {
		t.Error("two writes of the same bytes used the same nonce")
	}
}

// TestStorageFileSwappedBetweenAppsIsRefused copies one app's sealed file into another app's
// storage, and renames a file within an app: neither opens, since the component ID and the
// file name are sealed with the data.
func TestStorageFileSwappedBetweenAppsIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	storage := &manifest.MutableStorage{SizeKB: 4}
	victim := app("victim", manifest.Capabilities{MutableStorage: storage})
	thief := app("thief", manifest.Capabilities{MutableStorage: storage})
	if err := apphost.WriteStorageFile(e.dir, e.key, victim.ComponentId, "secret", []byte("the victim's")); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(e.storageFile(victim, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	e.script(thief, "get secret")
	os.WriteFile(e.storageFile(thief, "secret"), sealed, 0o600)
	e.script(victim, "get renamed", "get secret")
	os.WriteFile(e.storageFile(victim, "renamed"), sealed, 0o600)
	e.install(thief, wasm["probe"])
	e.install(victim, wasm["probe"])
	e.sync()
	e.refused(thief, "secret")
	e.refused(victim, "renamed")
	e.expect(victim, map[string]string{"get secret": "ok the victim's"})
}

// TestStorageUnderAnotherKeyIsRefused: a file sealed under another storage key (another
// runtime's, another device's), a changed file and a plain file planted in the state folder
// are refused.
func TestStorageUnderAnotherKeyIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{})
	m := app("app", manifest.Capabilities{MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	if err := apphost.WriteStorageFile(e.dir, bytes.Repeat([]byte{8}, 32), m.ComponentId, "other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := apphost.WriteStorageFile(e.dir, e.key, m.ComponentId, "changed", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(e.storageFile(m, "changed"))
	b[len(b)-1] ^= 1
	os.WriteFile(e.storageFile(m, "changed"), b, 0o600)
	os.WriteFile(e.storageFile(m, "planted"), []byte(`{"broker": "evil.example"}`), 0o600)
	e.script(m, "get other", "get changed", "get planted")
	e.install(m, wasm["probe"])
	e.sync()
	e.expect(m, map[string]string{"get other": "err -6", "get changed": "err -6", "get planted": "err -6"})
	if n := len(e.rec.of(m.ComponentId, apphost.EventStorageRefused)); n != 3 {
		t.Errorf("%d storage_refused events, want 3", n)
	}
}

// TestStorageWithoutKeyIsUnavailable: a host given no storage key seals nothing and opens
// nothing.
func TestStorageWithoutKeyIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, apphost.Options{StorageKey: []byte{}})
	m := app("nokey", manifest.Capabilities{MutableStorage: &manifest.MutableStorage{SizeKB: 4}})
	e.install(m, wasm["probe"])
	e.sync()
	ev := e.rec.wait(t, m.ComponentId, apphost.EventExit)
	if !strings.Contains(e.log(m.ComponentId), "the runtime has no storage key") {
		t.Errorf("exit %d; log:\n%s", ev.ExitCode, e.log(m.ComponentId))
	}
}

// TestSealStorageMigratesOnce: at the first start with sealed storage, the plain files of the
// runtime before are sealed in place; after it, a plain file is refused and removed.
func TestSealStorageMigratesOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := bytes.Repeat([]byte{9}, 32)
	cid := "0b3c6a5e-7f1d-4c2a-9e8b-1a2b3c4d5e6f"
	folder := filepath.Join(dir, apphost.DirAppData, cid)
	os.MkdirAll(folder, 0o700)
	os.WriteFile(filepath.Join(folder, "config.json"), []byte(`{"a": 1}`), 0o600)
	os.WriteFile(filepath.Join(folder, ".tmp123"), []byte("left by a crash"), 0o600)
	n, refused, err := apphost.SealStorage(dir, key, true)
	if err != nil || n != 1 || len(refused) != 0 {
		t.Fatalf("migration: %d sealed, refused %v, %v; want 1, none", n, refused, err)
	}
	if b, err := apphost.ReadStorageFile(dir, key, cid, "config.json"); err != nil || string(b) != `{"a": 1}` {
		t.Errorf("after the migration: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(folder, ".tmp123")); !os.IsNotExist(err) {
		t.Error("a temporary file survived")
	}
	n, refused, err = apphost.SealStorage(dir, key, true) // sealed files are left alone
	if err != nil || n != 0 || len(refused) != 0 {
		t.Errorf("again: %d sealed, refused %v, %v; want nothing", n, refused, err)
	}

	os.WriteFile(filepath.Join(folder, "planted"), []byte("x"), 0o600)
	n, refused, err = apphost.SealStorage(dir, key, false)
	if err != nil || n != 0 || len(refused) != 1 || refused[0].Name != "planted" || refused[0].ComponentID != cid {
		t.Fatalf("after the migration: %d sealed, refused %v, %v; want the planted file refused", n, refused, err)
	}
	if _, err := os.Stat(filepath.Join(folder, "planted")); !os.IsNotExist(err) {
		t.Error("the planted file is still there")
	}
	if _, err := apphost.ReadStorageFile(dir, key, cid, "config.json"); err != nil {
		t.Errorf("the app's own file: %v", err)
	}
}
