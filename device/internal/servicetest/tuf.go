package servicetest

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
)

// Repo is a TUF repository of the stand-in, built with go-tuf's metadata package: one
// ed25519 key per top-level role, consistent snapshots, a timestamp that expires in a day.
// Change it with the Service locked.
type Repo struct {
	Name string

	signers   map[string]signature.Signer
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
	files     map[string][]byte // metadata as served, by file name
	blobs     map[string][]byte // packages, by target name
	faults    map[string]*Fault
}

// Fault makes the stand-in misbehave when it serves a target.
type Fault struct {
	// Tamper serves the package with one byte changed.
	Tamper bool
	// CutAfter, if positive, sends only that many bytes of the next answer for the target, then
	// drops the connection; it is cleared once used.
	CutAfter int64
	// Endless sends the package and then bytes without end, with no Content-Length.
	Endless bool
	// Oversize announces, and sends, the package followed by more bytes.
	Oversize bool
}

// Target is a target to publish: a package and its custom metadata.
type Target struct {
	Name    string // api.TargetImagePrefix + image ID, or api.TargetRuntimePrefix + version
	Package []byte
	Custom  api.TargetCustom
}

// Repo returns the repository name, made with no targets on first use.
func (s *Service) Repo(name string) *Repo {
	s.Lock()
	defer s.Unlock()
	return s.repo(name)
}

func (s *Service) repo(name string) *Repo {
	if r, ok := s.repos[name]; ok {
		return r
	}
	r := &Repo{Name: name, signers: map[string]signature.Signer{}, files: map[string][]byte{},
		blobs: map[string][]byte{}, faults: map[string]*Fault{}}
	r.root = metadata.Root(time.Now().AddDate(1, 0, 0))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			panic(err)
		}
		key, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			panic(err)
		}
		if err := r.root.Signed.AddKey(key, role); err != nil {
			panic(err)
		}
		if r.signers[role], err = signature.LoadSigner(priv, crypto.Hash(0)); err != nil {
			panic(err)
		}
	}
	r.files["1.root.json"] = sign(r.root, r.signers[metadata.ROOT])
	r.targets = metadata.Targets(time.Now().AddDate(0, 3, 0))
	r.targets.Signed.Version = 0
	r.snapshot = metadata.Snapshot(time.Now().AddDate(0, 0, 7))
	r.snapshot.Signed.Version = 0
	r.timestamp = metadata.Timestamp(time.Now().Add(24 * time.Hour))
	r.timestamp.Signed.Version = 0
	r.publish()
	s.repos[name] = r
	return r
}

// sign signs md with signer alone and returns its bytes.
func sign[T metadata.Roles](md *metadata.Metadata[T], signer signature.Signer) []byte {
	md.ClearSignatures()
	if _, err := md.Sign(signer); err != nil {
		panic(err)
	}
	b, err := md.ToBytes(false)
	if err != nil {
		panic(err)
	}
	return b
}

// SetTargets makes ts the repository's targets: new targets, snapshot and timestamp versions.
// SetUrgent marks the targets urgent (api.TargetsUrgentField), or not, and publishes them.
func (r *Repo) SetUrgent(urgent bool) {
	if urgent {
		r.targets.Signed.UnrecognizedFields = map[string]any{api.TargetsUrgentField: true}
	} else {
		r.targets.Signed.UnrecognizedFields = nil
	}
	r.publish()
}

func (r *Repo) SetTargets(ts ...Target) {
	r.targets.Signed.Targets = map[string]*metadata.TargetFiles{}
	r.blobs = map[string][]byte{}
	for _, t := range ts {
		tf, err := metadata.TargetFile().FromBytes(t.Name, t.Package, "sha256")
		if err != nil {
			panic(err)
		}
		custom, _ := json.Marshal(t.Custom)
		raw := json.RawMessage(custom)
		tf.Custom = &raw
		r.targets.Signed.Targets[t.Name] = tf
		r.blobs[t.Name] = t.Package
	}
	r.publish()
}

// SetFault makes the stand-in misbehave for the target name (nil: behave).
func (r *Repo) SetFault(name string, f *Fault) {
	if f == nil {
		delete(r.faults, name)
		return
	}
	r.faults[name] = f
}

// publish signs a new version of targets, snapshot and timestamp.
func (r *Repo) publish() {
	r.targets.Signed.Version++
	b := sign(r.targets, r.signers[metadata.TARGETS])
	r.files[fmt.Sprintf("%d.targets.json", r.targets.Signed.Version)] = b
	r.snapshot.Signed.Version++
	r.snapshot.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": metadata.MetaFile(r.targets.Signed.Version)}
	b = sign(r.snapshot, r.signers[metadata.SNAPSHOT])
	r.files[fmt.Sprintf("%d.snapshot.json", r.snapshot.Signed.Version)] = b
	r.timestamp.Signed.Version++
	r.timestamp.Signed.Expires = time.Now().Add(24 * time.Hour).UTC()
	r.timestamp.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": metadata.MetaFile(r.snapshot.Signed.Version)}
	r.files["timestamp.json"] = sign(r.timestamp, r.signers[metadata.TIMESTAMP])
}

// ExpireTimestamp publishes a new timestamp version that has already expired: what a device
// sees from a service (or a man in the middle) that froze the repository and re-serves it.
func (r *Repo) ExpireTimestamp() {
	r.timestamp.Signed.Version++
	r.timestamp.Signed.Expires = time.Now().Add(-time.Hour).UTC()
	r.files["timestamp.json"] = sign(r.timestamp, r.signers[metadata.TIMESTAMP])
}

// serveTUF answers GET api.DevicePathTUF + repo + "/" + file.
func (s *Service) serveTUF(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.device(w, r); !ok {
		return
	}
	s.Lock()
	s.TUFRequests++
	s.Unlock()
	rest := strings.TrimPrefix(r.URL.Path, api.DevicePathTUF)
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such repository"})
		return
	}
	s.Lock()
	repo := s.repo(parts[0] + "/" + parts[1])
	file := parts[2]
	if name, ok := strings.CutPrefix(file, "targets/"); ok {
		data, found := repo.blobs[name]
		var f Fault
		if p := repo.faults[name]; p != nil {
			f = *p
			p.CutAfter = 0
		}
		s.Ranges = append(s.Ranges, r.Header.Get("Range"))
		s.Unlock()
		if !found {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such target"})
			return
		}
		serveTarget(w, r, data, f)
		return
	}
	b, found := repo.files[file]
	s.Unlock()
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such metadata"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func serveTarget(w http.ResponseWriter, r *http.Request, data []byte, f Fault) {
	if f.Tamper {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0x01
	}
	switch {
	case f.CutAfter > 0:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:min(f.CutAfter, int64(len(data)))])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	case f.Endless:
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(data); err != nil {
			return
		}
		junk := bytes.Repeat([]byte{0xAA}, 32<<10)
		for sent := 0; sent < 64<<20; sent += len(junk) { // bounded, so a broken client cannot hang the test
			if _, err := w.Write(junk); err != nil {
				return
			}
		}
	case f.Oversize:
		more := append(bytes.Clone(data), bytes.Repeat([]byte{0xAA}, 4096)...)
		w.Header().Set("Content-Length", fmt.Sprint(len(more)))
		w.Write(more)
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

// App returns a target for an app package signed by signers: a new image of component comp
// (a new component if comp is ""), with payload as its WebAssembly module.
func App(t testing.TB, comp, name, version string, payload []byte, signers ...crypto.Signer) Target {
	t.Helper()
	if comp == "" {
		comp = ident.NewID()
	}
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: ident.NewID(), ComponentID: comp, Name: name,
		Version: version, Type: imagepkg.TypeApplication,
		App: &manifest.App{SchemaVersion: 1, ComponentId: comp, Name: name, EntryPoint: "app.wasm"}}
	return target(t, api.TargetImagePrefix+m.ImageID, m, payload, signers)
}

// AppWithManifest returns a target for an app package signed by signers: a new image of the
// component and with the name and capabilities of app, with payload as its module.
func AppWithManifest(t testing.TB, app manifest.App, version string, payload []byte, signers ...crypto.Signer) Target {
	t.Helper()
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: ident.NewID(), ComponentID: app.ComponentId, Name: app.Name,
		Version: version, Type: imagepkg.TypeApplication, App: &app}
	return target(t, api.TargetImagePrefix+m.ImageID, m, payload, signers)
}

// Runtime returns a target for a runtime package signed by signers, with payload as the
// runtime executable.
func Runtime(t testing.TB, version string, payload []byte, signers ...crypto.Signer) Target {
	t.Helper()
	m := imagepkg.Manifest{Format: imagepkg.FormatVersion, ImageID: ident.NewID(), ComponentID: api.RuntimeComponentID,
		Name: api.RuntimeImageName, Version: version, Type: imagepkg.TypeRuntime}
	return target(t, api.TargetRuntimePrefix+version, m, payload, signers)
}

func target(t testing.TB, name string, m imagepkg.Manifest, payload []byte, signers []crypto.Signer) Target {
	t.Helper()
	m.PayloadSize, m.PayloadSHA256 = int64(len(payload)), ident.SHA256(payload)
	var b bytes.Buffer
	if err := imagepkg.Write(&b, m, bytes.NewReader(payload), signers...); err != nil {
		t.Fatal(err)
	}
	return Target{Name: name, Package: b.Bytes(), Custom: api.TargetCustom{ImageID: m.ImageID, ComponentID: m.ComponentID,
		Name: m.Name, Version: m.Version, Type: m.Type}}
}
