package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/internal/usage"
)

// These tests drive `rampart image pack` in process, through the command tree, with a home of
// their own. They set HOME, so they do not run in parallel.

const packComponentID = "5e1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"

const appManifest = `{
  "SchemaVersion": 1,
  "ComponentId": "` + packComponentID + `",
  "Name": "Blinky",
  "EntryPoint": "blinky.wasm",
  "Capabilities": { "Gpio": [4, 17], "AllowedConnections": ["example.com:443"] }
}`

var wasm = []byte("\x00asm\x01\x00\x00\x00")

// packHome gives the test a home and a work folder holding app_manifest.json and blinky.wasm.
func packHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "app_manifest.json"), []byte(appManifest), 0o644)
	os.WriteFile(filepath.Join(work, "blinky.wasm"), wasm, 0o644)
	t.Chdir(work)
	return home
}

// rampart runs the command line with args and returns stdout, stderr and the exit code as Run
// would. Until the image noun exists it hangs pack under an image noun of its own.
func rampart(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: os.Getenv}
	root := e.root()
	if c, _, err := root.Find([]string{"image", "pack"}); err != nil || c.Name() != "pack" {
		image, _, err := root.Find([]string{"image"})
		if err != nil || image == root {
			image = &cobra.Command{Use: "image"}
			root.AddCommand(image)
		}
		image.AddCommand(e.imagePackCmd())
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case usage.Is(err):
		return out.String(), "rampart: " + err.Error() + "\n", 2
	}
	return out.String(), "rampart: " + explain(err) + "\n", 1
}

func readPackage(t *testing.T, path string) (*imagepkg.Header, []byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := imagepkg.ReadHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	key := developerPublicKey(t)
	if _, err := h.Verify(map[string]*ecdsa.PublicKey{imagepkg.KeyID(key): key}); err != nil {
		t.Fatal(err)
	}
	var payload bytes.Buffer
	if _, err := payload.ReadFrom(h.Payload(f)); err != nil {
		t.Fatal(err)
	}
	return h, payload.Bytes()
}

func developerPublicKey(t *testing.T) *ecdsa.PublicKey {
	t.Helper()
	path, _ := developerKeyPath()
	k, err := loadDeveloperKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

func TestPackApplication(t *testing.T) {
	home := packHome(t)
	stdout, stderr, code := rampart("image", "pack", "--manifest", "app_manifest.json", "--payload", "blinky.wasm", "--output", "blinky.rmpkg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h, payload := readPackage(t, "blinky.rmpkg")
	app, _ := manifest.Parse([]byte(appManifest))
	want := imagepkg.Manifest{Format: 1, ImageID: h.Manifest.ImageID, ComponentID: packComponentID, Name: "Blinky",
		Version: "1.0.0", Type: imagepkg.TypeApplication, PayloadSize: int64(len(wasm)), PayloadSHA256: ident.SHA256(wasm), App: app}
	if !reflect.DeepEqual(h.Manifest, want) || !bytes.Equal(payload, wasm) {
		t.Errorf("manifest %+v\nwant %+v", h.Manifest, want)
	}
	if !ident.IsID(h.Manifest.ImageID) {
		t.Errorf("image ID %q", h.Manifest.ImageID)
	}
	keyID := imagepkg.KeyID(developerPublicKey(t))
	for _, s := range []string{"Image ID  +" + h.Manifest.ImageID, "Component ID +" + packComponentID, "Developer key ID +" + keyID} {
		if !regexp.MustCompile(s).MatchString(stdout) {
			t.Errorf("stdout %q lacks %q", stdout, s)
		}
	}
	if !strings.Contains(stderr, "Made a developer key") || !strings.Contains(stderr, "Wrote application Blinky 1.0.0") {
		t.Errorf("stderr %q", stderr)
	}
	keyFile := filepath.Join(home, ".config", "rampart", "developer-key.pem")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(keyFile)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("key folder: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(keyFile)
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "PRIVATE KEY" {
		t.Errorf("key file is not PKCS#8 PEM")
	} else if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
		t.Error(err)
	}
	if names, _ := filepath.Glob(".*tmp*"); len(names) > 0 {
		t.Errorf("temporary files left: %v", names)
	}

	// Again, with an image ID and a version: the same key, no new one made; JSON out.
	id := ident.NewID()
	stdout, stderr, code = rampart("image", "pack", "-m", "app_manifest.json", "--payload", "blinky.wasm", "-o", "blinky.rmpkg",
		"--image-id", id, "--version", "2.0.1-rc.1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res packResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if res.ImageID != id || res.Version != "2.0.1-rc.1" || res.DeveloperKeyID != keyID || res.PayloadSHA256 != ident.SHA256(wasm).String() {
		t.Errorf("result %+v", res)
	}
	if strings.Contains(stderr, "Made a developer key") {
		t.Error("a second key was made")
	}
	if h, _ := readPackage(t, "blinky.rmpkg"); h.Manifest.ImageID != id || h.Manifest.Version != "2.0.1-rc.1" {
		t.Errorf("manifest %+v", h.Manifest)
	}
}

func TestPackRuntime(t *testing.T) {
	packHome(t)
	cid := ident.NewID()
	os.WriteFile("stage1", []byte("a runtime"), 0o755)
	_, stderr, code := rampart("image", "pack", "--type", "runtime", "--component-id", cid, "--name", "Rampart Runtime",
		"--payload", "stage1", "--output", "rt.rmpkg", "--version", "0.4.0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h, payload := readPackage(t, "rt.rmpkg")
	m := h.Manifest
	if m.Type != imagepkg.TypeRuntime || m.ComponentID != cid || m.Name != "Rampart Runtime" || m.App != nil || string(payload) != "a runtime" {
		t.Errorf("manifest %+v", m)
	}
}

func TestPackPrintKey(t *testing.T) {
	packHome(t)
	stdout, stderr, code := rampart("image", "pack", "--print-key")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	keyID := imagepkg.KeyID(developerPublicKey(t))
	if !strings.HasPrefix(stdout, "Developer key ID: "+keyID+"\n-----BEGIN PUBLIC KEY-----\n") {
		t.Errorf("stdout %q", stdout)
	}
	blk, _ := pem.Decode([]byte(stdout))
	if pub, err := x509.ParsePKIXPublicKey(blk.Bytes); err != nil || imagepkg.KeyID(pub.(*ecdsa.PublicKey)) != keyID {
		t.Errorf("printed public key: %v", err)
	}
	stdout, _, code = rampart("image", "pack", "--print-key", "--json")
	var info developerKeyInfo
	if err := json.Unmarshal([]byte(stdout), &info); err != nil || code != 0 || info.KeyID != keyID || !strings.Contains(info.PublicKeyPEM, "PUBLIC KEY") {
		t.Errorf("--json: %q, %v", stdout, err)
	}
	if _, _, code := rampart("image", "pack", "--print-key", "--payload", "x"); code != 2 {
		t.Errorf("--print-key with --payload: exit %d", code)
	}
}

func TestPackRefuses(t *testing.T) {
	pack := []string{"image", "pack", "--manifest", "app_manifest.json", "--payload", "blinky.wasm", "--output", "out.rmpkg"}
	tests := []struct {
		name  string
		setup func(t *testing.T)
		args  []string
		code  int
		want  string
	}{
		{"bad manifest", func(t *testing.T) {
			os.WriteFile("app_manifest.json", []byte(strings.Replace(appManifest, "17", "5000", 1)), 0o644)
		}, pack, 1, "app_manifest.json: invalid app manifest: Capabilities.Gpio[1]: pin 5000 out of range 0–1023"},
		{"manifest unknown field", func(t *testing.T) {
			os.WriteFile("app_manifest.json", []byte(strings.Replace(appManifest, `"Name"`, `"Debug": true, "Name"`, 1)), 0o644)
		}, pack, 1, `unknown field "Debug"`},
		{"manifest missing", func(t *testing.T) { os.Remove("app_manifest.json") }, pack, 1, "read app manifest: open app_manifest.json: no such file"},
		{"manifest too large", func(t *testing.T) {
			os.WriteFile("app_manifest.json", bytes.Repeat([]byte(" "), manifest.MaxSize+1), 0o644)
		}, pack, 1, "larger than 65536 bytes"},
		{"payload missing", func(t *testing.T) { os.Remove("blinky.wasm") }, pack, 1, "read payload: open blinky.wasm: no such file"},
		{"payload a folder", func(t *testing.T) { os.Remove("blinky.wasm"); os.Mkdir("blinky.wasm", 0o755) }, pack, 1, "not a regular file"},
		{"payload too large", func(t *testing.T) {
			os.Truncate("blinky.wasm", imagepkg.MaxPayloadSize+1) // sparse: no disk used
		}, pack, 1, "over the limit of 256.0 MiB"},
		{"key readable by others", func(t *testing.T) {
			rampart("image", "pack", "--print-key")
			path, _ := developerKeyPath()
			os.Chmod(path, 0o644)
		}, pack, 1, "is open to other users (mode 0644); run 'chmod 600 "},
		{"key not a key", func(t *testing.T) {
			path, _ := developerKeyPath()
			os.MkdirAll(filepath.Dir(path), 0o700)
			os.WriteFile(path, []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"), 0o600)
		}, pack, 1, "is not a PKCS#8 PEM ECDSA P-256 private key"},
		{"no output", nil, pack[:6], 2, "give the package file to write with --output"},
		{"no payload", nil, []string{"image", "pack", "--manifest", "app_manifest.json", "-o", "x"}, 2, "--payload"},
		{"no manifest", nil, []string{"image", "pack", "--payload", "blinky.wasm", "-o", "x"}, 2, "--manifest"},
		{"bad image ID", nil, append(pack, "--image-id", "../x"), 2, `invalid --image-id "../x"`},
		{"bad version", nil, append(pack, "--version", "1.0/../x"), 2, "invalid --version"},
		{"bad type", nil, append(pack, "--type", "library"), 2, `invalid --type "library"`},
		{"application with component ID", nil, append(pack, "--component-id", packComponentID), 2, "are for a runtime"},
		{"runtime with manifest", nil, append(pack, "--type", "runtime"), 2, "a runtime has no app manifest"},
		{"runtime without name", nil, []string{"image", "pack", "--type", "runtime", "--component-id", packComponentID, "--payload", "blinky.wasm", "-o", "x"}, 2, "needs --name"},
		{"runtime name path", nil, []string{"image", "pack", "--type", "runtime", "--component-id", packComponentID, "--name", "../x", "--payload", "blinky.wasm", "-o", "x"}, 2, "invalid name"},
		{"output in a missing folder", nil, append(pack[:6], "--output", "nowhere/out.rmpkg"), 1, "write nowhere/out.rmpkg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			packHome(t)
			if tt.setup != nil {
				tt.setup(t)
			}
			stdout, stderr, code := rampart(tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
			if stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stdout %q, stderr %q: want nothing and one line", stdout, stderr)
			}
			if strings.Contains(stderr, "c2VjcmV0") {
				t.Error("the key file's content is in the error")
			}
			if names, _ := filepath.Glob("*.rmpkg"); len(names) > 0 {
				t.Errorf("wrote %v", names)
			}
			if names, _ := filepath.Glob(".*tmp*"); len(names) > 0 {
				t.Errorf("temporary files left: %v", names)
			}
		})
	}
}
