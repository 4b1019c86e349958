package tufrepo_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// clock is the service's and the devices' time, moved by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a TUF service on a fresh store.
type env struct {
	t     *testing.T
	st    *store.Store
	kek   *pki.KEK
	keys  *keyring.Keyring
	blobs *blob.Store
	clock *clock
	tuf   *tufrepo.Service
}

// each runs test in parallel on a fresh service over every store backend.
func each(t *testing.T, test func(t *testing.T, e *env)) {
	t.Parallel()
	for _, backend := range storetest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, newEnv(t, backend))
		})
	}
}

func newEnv(t *testing.T, backend string) *env {
	st := storetest.Open(t, backend)
	kek, err := pki.ParseKEK(strings.Repeat("07", 32))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now().UTC()}
	keys := keyring.New(st, kek)
	return &env{t: t, st: st, kek: kek, keys: keys, blobs: blobs, clock: c,
		tuf: tufrepo.New(st, keys, blobs, c.Now)}
}

// image stores a package with content and returns it as an image of tenantID.
func (e *env) image(tenantID ident.TenantID, content string) api.Image {
	e.t.Helper()
	info, err := e.blobs.Put(strings.NewReader(content), 1<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	return api.Image{ID: ident.ImageID(ident.NewID()), TenantID: tenantID, ComponentID: ident.ComponentID(ident.NewID()), Name: "app-" + content,
		Version: "1.0", Type: api.ImageApplication, Size: info.Size, SHA256: info.SHA256.String()}
}

// publishGroup publishes images to a group's repository, as createDeployment does: keys first,
// then the transaction.
func (e *env) publishGroup(tenantID ident.TenantID, groupID ident.GroupID, images ...api.Image) {
	e.t.Helper()
	ctx := context.Background()
	keys, err := e.tuf.PrepareGroup(ctx, tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishGroup(ctx, tx, keys, groupID, images) })
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) refresh() {
	e.t.Helper()
	if err := e.tuf.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// file returns the stored metadata of a role (version 0: the newest).
func (e *env) file(repo, role string, version int64) store.TUFFile {
	e.t.Helper()
	var f store.TUFFile
	err := e.st.View(context.Background(), func(tx *store.Tx) error {
		var err error
		f, err = tx.TUFMetadata(repo, role, version)
		return err
	})
	if err != nil {
		e.t.Fatalf("%s %s v%d: %v", repo, role, version, err)
	}
	return f
}

// versions returns the newest version of each role of repo.
func (e *env) versions(repo string) map[string]int64 {
	e.t.Helper()
	v := map[string]int64{}
	for _, role := range metadata.TOP_LEVEL_ROLE_NAMES {
		v[role] = e.file(repo, role, 0).Version
	}
	return v
}

// device is a device's TUF client (go-tuf's updater) talking to the service over HTTP, with
// an attacker in the middle who may answer in the service's place.
type device struct {
	e        *env
	dev      api.Device
	repo     string
	srv      *httptest.Server
	metadata string // the updater's metadata cache: the device's trusted state
	targets  string

	mu     sync.Mutex
	attack func(file string) []byte // answers for the service when it returns non-nil
}

func (e *env) device(dev api.Device, repo string) *device {
	d := &device{e: e, dev: dev, repo: repo, metadata: e.t.TempDir(), targets: e.t.TempDir()}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	e.t.Cleanup(d.srv.Close)
	return d
}

func (d *device) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, api.DevicePathTUF)
	if !ok {
		http.NotFound(w, r)
		return
	}
	d.mu.Lock()
	attack := d.attack
	d.mu.Unlock()
	if attack != nil {
		if body := attack(strings.TrimPrefix(path, d.repo+"/")); body != nil {
			w.Write(body)
			return
		}
	}
	// As httpapi's deviceTUF answers, less its headers and Range support (tested there).
	f, err := d.e.tuf.Open(r.Context(), d.dev, path)
	switch {
	case errors.Is(err, tufrepo.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		d.e.t.Errorf("Open(%s): %v", path, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	case f.Target != nil:
		defer f.Target.Close()
		io.Copy(w, f.Target)
	default:
		w.Write(f.Metadata)
	}
}

func (d *device) setAttack(attack func(file string) []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attack = attack
}

func (d *device) url(file string) string { return d.srv.URL + api.DevicePathTUF + d.repo + "/" + file }

func (d *device) get(file string, header ...string) *http.Response {
	d.e.t.Helper()
	req, _ := http.NewRequest("GET", d.url(file), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.e.t.Fatal(err)
	}
	return res
}

// trustFirstRoot stores the repository's first root as the device's trusted root, as a device
// does when it first follows a repository.
func (d *device) trustFirstRoot() {
	d.e.t.Helper()
	res := d.get("1.root.json")
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		d.e.t.Fatalf("1.root.json: %s", res.Status)
	}
	if err := os.WriteFile(filepath.Join(d.metadata, "root.json"), body, 0o600); err != nil {
		d.e.t.Fatal(err)
	}
}

// updater starts the device's TUF client from its trusted state, at the test's time.
func (d *device) updater(configure ...func(*config.UpdaterConfig)) *updater.Updater {
	d.e.t.Helper()
	root, err := os.ReadFile(filepath.Join(d.metadata, "root.json"))
	if err != nil {
		d.e.t.Fatal(err)
	}
	cfg, err := config.New(d.srv.URL+api.DevicePathTUF+d.repo, root)
	if err != nil {
		d.e.t.Fatal(err)
	}
	cfg.LocalMetadataDir, cfg.LocalTargetsDir = d.metadata, d.targets
	for _, c := range configure {
		c(cfg)
	}
	u, err := updater.New(cfg)
	if err != nil {
		d.e.t.Fatal(err)
	}
	u.UnsafeSetRefTime(d.e.clock.Now())
	return u
}

// refresh runs the TUF client workflow and returns the targets it trusts.
func (d *device) refresh() (map[string]*metadata.TargetFiles, error) {
	u := d.updater()
	if err := u.Refresh(); err != nil {
		return nil, err
	}
	return u.GetTopLevelTargets(), nil
}

func (d *device) mustRefresh() map[string]*metadata.TargetFiles {
	d.e.t.Helper()
	targets, err := d.refresh()
	if err != nil {
		d.e.t.Fatalf("device refresh: %v", err)
	}
	return targets
}

// wantRefused checks that the device refuses what it is served, with an error like one of
// want.
func (d *device) wantRefused(what string, want ...error) {
	d.e.t.Helper()
	_, err := d.refresh()
	if err == nil {
		d.e.t.Fatalf("%s: the device accepted it", what)
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	d.e.t.Fatalf("%s: refused with %v (%T), want %T", what, err, err, want)
}

// mismatch is what a device says of a file whose length or hash is not the one it was told.
var mismatch = []error{&metadata.ErrLengthOrHashMismatch{}, &metadata.ErrDownloadLengthMismatch{}}

// group is a tenant's device group with one device in it.
func group(e *env) (tenantID ident.TenantID, groupID ident.GroupID, dev api.Device) {
	tenantID, groupID = ident.TenantID(ident.NewID()), ident.GroupID(ident.NewID())
	dev = api.Device{ID: ident.DeviceIDFromPublicKey([]byte(groupID)), TenantID: tenantID, GroupID: groupID,
		State: api.DeviceClaimed}
	return tenantID, groupID, dev
}

func TestDeviceFetchesAndVerifiesTargets(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		a, b := e.image(tenantID, "app a"), e.image(tenantID, "app b")
		e.publishGroup(tenantID, groupID, a, b)

		d := e.device(dev, tufrepo.GroupRepo(groupID))
		d.trustFirstRoot()
		u := d.updater()
		if err := u.Refresh(); err != nil {
			t.Fatal(err)
		}
		if n := len(u.GetTopLevelTargets()); n != 2 {
			t.Errorf("%d targets, want 2", n)
		}
		for _, img := range []api.Image{a, b} {
			info, err := u.GetTargetInfo(api.TargetImagePrefix + string(img.ID))
			if err != nil {
				t.Fatal(err)
			}
			var custom api.TargetCustom
			if info.Custom == nil || json.Unmarshal(*info.Custom, &custom) != nil {
				t.Fatalf("target %s has no custom metadata", img.ID)
			}
			want := api.TargetCustom{ImageID: string(img.ID), ComponentID: string(img.ComponentID), Name: img.Name,
				Version: img.Version, Type: img.Type}
			if custom != want {
				t.Errorf("custom = %+v, want %+v", custom, want)
			}
			// With go-tuf's defaults (hash-prefixed names) and without.
			_, data, err := u.DownloadTarget(info, filepath.Join(t.TempDir(), "pkg"), "")
			if err != nil || string(data) != strings.TrimPrefix(img.Name, "app-") {
				t.Errorf("download %s: %q, %v", img.ID, data, err)
			}
			plain := d.updater(func(c *config.UpdaterConfig) { c.PrefixTargetsWithHash = false })
			info, err = plain.GetTargetInfo(api.TargetImagePrefix + string(img.ID))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := plain.DownloadTarget(info, filepath.Join(t.TempDir(), "pkg"), ""); err != nil {
				t.Errorf("download %s without hash prefix: %v", img.ID, err)
			}
		}

		// A target opens seekable, so that downloads can resume (httpapi serves Range from it);
		// metadata asked for without a version is the newest.
		f, err := e.tuf.Open(context.Background(), dev, tufrepo.GroupRepo(groupID)+"/targets/"+api.TargetImagePrefix+string(a.ID))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Target.Seek(4, io.SeekStart)
		rest, _ := io.ReadAll(f.Target)
		f.Target.Close()
		if err != nil || string(rest) != "a" || f.Digest.String() != a.SHA256 || f.Metadata != nil {
			t.Errorf("target from byte 4: %q, %v, digest %s; want %q of %s", rest, err, f.Digest, "a", a.SHA256)
		}
		f, err = e.tuf.Open(context.Background(), dev, tufrepo.GroupRepo(groupID)+"/timestamp.json")
		if err != nil || f.Target != nil || !f.Newest || len(f.Metadata) == 0 {
			t.Errorf("timestamp.json: %+v, %v", f, err)
		}

		// A new deployment replaces the targets; what it dropped is no longer served.
		c := e.image(tenantID, "app c")
		e.publishGroup(tenantID, groupID, c)
		targets := d.mustRefresh()
		if _, ok := targets[api.TargetImagePrefix+string(c.ID)]; !ok || len(targets) != 1 {
			t.Errorf("targets after the new deployment: %v", targets)
		}
		res := d.get("targets/" + api.TargetImagePrefix + string(a.ID))
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("a target no longer in the deployment: %s", res.Status)
		}
	})
}

func TestFeedServesRuntimeReleases(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		info, err := e.blobs.Put(strings.NewReader("runtime 2.1.0"), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		rel := api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetailEval, Version: "2.1.0", ImageID: ident.ImageID(ident.NewID()),
			PackageSize: info.Size, PackageSHA256: info.SHA256.String()}
		legacy := api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetailEval, Version: "1.0.0"} // no package
		keys, err := e.tuf.PrepareFeed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = e.st.Update(ctx, func(tx *store.Tx) error {
			return e.tuf.PublishFeed(ctx, tx, keys, api.FeedRetailEval, []api.RuntimeRelease{rel, legacy})
		})
		if err != nil {
			t.Fatal(err)
		}
		// Any device may read a feed, in a group or not.
		d := e.device(api.Device{ID: ident.DeviceIDFromPublicKey([]byte("x")), TenantID: ident.TenantID(ident.NewID())},
			tufrepo.FeedRepo(api.FeedRetailEval))
		d.trustFirstRoot()
		u := d.updater()
		tf, err := u.GetTargetInfo(api.TargetRuntimePrefix + "2.1.0")
		if err != nil {
			t.Fatal(err)
		}
		var custom api.TargetCustom
		json.Unmarshal(*tf.Custom, &custom)
		if want := (api.TargetCustom{ImageID: string(rel.ImageID), ComponentID: api.RuntimeComponentID, Name: "rampart-runtime",
			Version: "2.1.0", Type: "runtime"}); custom != want {
			t.Errorf("custom = %+v, want %+v", custom, want)
		}
		if _, data, err := u.DownloadTarget(tf, filepath.Join(t.TempDir(), "rt"), ""); err != nil || string(data) != "runtime 2.1.0" {
			t.Errorf("download: %q, %v", data, err)
		}
		if n := len(u.GetTopLevelTargets()); n != 1 {
			t.Errorf("%d targets, want 1 (a release without a package is left out)", n)
		}
	})
}

// TestTUFRollbackRefused: an attacker who replays older, validly signed metadata cannot take a
// device back to an earlier deployment.
func TestTUFRollbackRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "old"))
		old := map[string][]byte{
			"timestamp.json":  e.file(repo, metadata.TIMESTAMP, 0).Body,
			"1.snapshot.json": e.file(repo, metadata.SNAPSHOT, 1).Body,
			"1.targets.json":  e.file(repo, metadata.TARGETS, 1).Body,
		}
		e.publishGroup(tenantID, groupID, e.image(tenantID, "new"))
		d := e.device(dev, repo)
		d.trustFirstRoot()
		d.mustRefresh()

		d.setAttack(func(file string) []byte { return old[file] })
		d.wantRefused("the old timestamp", &metadata.ErrBadVersionNumber{})

		// The old snapshot or targets in place of the new ones.
		d.setAttack(func(file string) []byte {
			switch file {
			case "2.snapshot.json":
				return old["1.snapshot.json"]
			}
			return nil
		})
		os.Remove(filepath.Join(d.metadata, "snapshot.json"))
		d.wantRefused("the old snapshot", mismatch...)
		d.setAttack(func(file string) []byte {
			if file == "2.targets.json" {
				return old["1.targets.json"]
			}
			return nil
		})
		os.Remove(filepath.Join(d.metadata, "targets.json"))
		d.wantRefused("the old targets", mismatch...)

		d.setAttack(nil)
		d.mustRefresh()
	})
}

// TestTUFFreezeRefused: an attacker who keeps serving the metadata of a moment is found out
// once its timestamp expires, within a day; the service's refresh keeps honest metadata valid.
func TestTUFFreezeRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "app"))
		d := e.device(dev, repo)
		d.trustFirstRoot()
		d.mustRefresh()
		frozen := e.file(repo, metadata.TIMESTAMP, 0).Body

		e.clock.Add(13 * time.Hour)
		e.refresh()
		e.clock.Add(12 * time.Hour) // 25 hours after the frozen timestamp was signed
		d.mustRefresh()             // the refreshed timestamp is still valid

		d2 := e.device(dev, repo)
		d2.trustFirstRoot()
		d2.setAttack(func(file string) []byte {
			if file == "timestamp.json" {
				return frozen
			}
			return nil
		})
		d2.wantRefused("a frozen timestamp", &metadata.ErrExpiredMetadata{})

		// Without Refresh, the service's own metadata expires too: a device notices.
		e.clock.Add(24 * time.Hour)
		d.wantRefused("metadata past its expiry", &metadata.ErrExpiredMetadata{})
	})
}

// TestTUFMixAndMatchRefused: metadata of different moments, each validly signed, cannot be
// combined: the snapshot names the one targets version, by hash, that goes with it.
func TestTUFMixAndMatchRefused(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "one"))
		targets1 := e.file(repo, metadata.TARGETS, 1).Body
		e.publishGroup(tenantID, groupID, e.image(tenantID, "two"))
		e.publishGroup(tenantID, groupID, e.image(tenantID, "three"))
		snapshot2 := e.file(repo, metadata.SNAPSHOT, 2).Body

		// Each attack on a device that has seen nothing yet.
		attacked := func(file string, body []byte) *device {
			d := e.device(dev, repo)
			d.trustFirstRoot()
			d.setAttack(func(f string) []byte {
				if f == file {
					return body
				}
				return nil
			})
			return d
		}
		attacked("3.targets.json", targets1).wantRefused("targets version 1 with snapshot 3", mismatch...)
		attacked("3.snapshot.json", snapshot2).wantRefused("snapshot 2 with timestamp 3", mismatch...)

		// Another group's metadata, signed with another tenant's keys, is refused as well.
		otherTenant, otherGroup, _ := group(e)
		e.publishGroup(otherTenant, otherGroup, e.image(otherTenant, "theirs"))
		theirs := e.file(tufrepo.GroupRepo(otherGroup), metadata.TIMESTAMP, 0).Body
		d := attacked("timestamp.json", theirs)
		d.wantRefused("another repository's timestamp", &metadata.ErrUnsignedMetadata{})

		d.setAttack(nil)
		d.mustRefresh()
	})
}

// TestTUFRootRenewalWalksChain: a root near expiry is renewed as a new version signed with the
// same key; a device that trusts only the first root walks the chain to it.
func TestTUFRootRenewalWalksChain(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "app"))
		before := e.versions(repo)
		e.clock.Add(280 * 24 * time.Hour) // the root has 85 days left; everything else expired
		e.refresh()
		after := e.versions(repo)
		for role, v := range before {
			if after[role] != v+1 {
				t.Errorf("%s version %d after refresh, want %d", role, after[role], v+1)
			}
		}
		d := e.device(dev, repo)
		d.trustFirstRoot()
		u := d.updater()
		if err := u.Refresh(); err != nil {
			t.Fatal(err)
		}
		if v := u.GetTrustedMetadataSet().Root.Signed.Version; v != 2 {
			t.Errorf("device trusts root version %d, want 2", v)
		}
		// And then further versions continue.
		e.publishGroup(tenantID, groupID, e.image(tenantID, "next"))
		if targets := d.mustRefresh(); len(targets) != 1 {
			t.Errorf("targets: %v", targets)
		}
	})
}

// TestTUFFastForwardRecovery: an attacker with the online timestamp key signs a timestamp of a
// huge version, which devices accept and so refuse every honest one after it. Rotating the key
// recovers: a new root names the new key, and devices drop what the old one signed.
func TestTUFFastForwardRecovery(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "app"))
		d := e.device(dev, repo)
		d.trustFirstRoot()
		d.mustRefresh()

		// The attack, with the stolen key.
		stolen, err := e.keys.Signer(ctx, tenantID, keyring.TUFTimestamp)
		if err != nil {
			t.Fatal(err)
		}
		forged, err := metadata.Timestamp().FromBytes(e.file(repo, metadata.TIMESTAMP, 0).Body)
		if err != nil {
			t.Fatal(err)
		}
		forged.Signed.Version = 1 << 40
		forged.ClearSignatures()
		sign(t, forged, stolen.(*ecdsa.PrivateKey))
		body, _ := forged.ToBytes(false)
		d.setAttack(func(file string) []byte {
			if file == "timestamp.json" {
				return body
			}
			return nil
		})
		d.mustRefresh()
		d.setAttack(nil)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "fix"))
		d.wantRefused("honest metadata after the fast-forward", &metadata.ErrBadVersionNumber{})

		// Recovery: a new timestamp key.
		rotate(t, e, tenantID, keyring.TUFTimestamp)
		if _, err := e.tuf.PrepareGroup(ctx, tenantID); err != nil {
			t.Fatal(err)
		}
		e.refresh()
		if v := e.versions(repo)[metadata.ROOT]; v != 2 {
			t.Fatalf("root version %d after the key rotation, want 2", v)
		}
		u := d.updater()
		if err := u.Refresh(); err != nil {
			t.Fatalf("device after recovery: %v", err)
		}
		if n := len(u.GetTopLevelTargets()); n != 1 {
			t.Errorf("%d targets", n)
		}
		// What the stolen key signs is refused now.
		d.setAttack(func(file string) []byte {
			if file == "timestamp.json" {
				return body
			}
			return nil
		})
		d.wantRefused("the stolen key's timestamp", &metadata.ErrUnsignedMetadata{})
	})
}

// sign signs md with priv, as an attacker holding the key would.
func sign(t *testing.T, md *metadata.Metadata[metadata.TimestampType], priv *ecdsa.PrivateKey) {
	t.Helper()
	s, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.Sign(s); err != nil {
		t.Fatal(err)
	}
}

// rotate makes a new active key for owner and purpose, as a key rotation would. The sealing
// purpose is the keyring's.
func rotate(t *testing.T, e *env, owner ident.TenantID, purpose string) {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	k := store.SigningKey{ID: ident.NewID(), Owner: owner, Purpose: purpose, Public: spki, Active: true,
		CreatedAt: time.Now().UTC()}
	k.Sealed = e.kek.Seal("signing-key:"+string(owner)+":"+purpose+":"+k.ID, pkcs8)
	err := e.st.Update(context.Background(), func(tx *store.Tx) error { return tx.AddSigningKey(k) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.keys.Public(context.Background(), owner, purpose)
	if err != nil || !got[0].Equal(priv.Public()) {
		t.Fatalf("the keyring does not use the rotated key: %v", err)
	}
}

// TestTUFOtherGroupIs404: a device reads only its own group's repository (and the feeds);
// another group's is not found, exactly as a group that does not exist.
func TestTUFOtherGroupIs404(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		img := e.image(tenantID, "app")
		e.publishGroup(tenantID, groupID, img)
		otherTenant, otherGroup, stranger := group(e)
		e.publishGroup(otherTenant, otherGroup, e.image(otherTenant, "theirs"))
		ungrouped := dev
		ungrouped.GroupID = ""

		sum := img.SHA256
		files := []string{"1.root.json", "root.json", "timestamp.json", "1.snapshot.json", "snapshot.json",
			"1.targets.json", "targets.json", "targets/" + api.TargetImagePrefix + string(img.ID),
			"targets/" + api.TargetImagePrefix + sum + "." + string(img.ID)}
		for _, f := range files {
			for _, who := range []struct {
				name   string
				dev    api.Device
				status int
			}{
				{"own group", dev, http.StatusOK},
				{"other group", stranger, http.StatusNotFound},
				{"no group", ungrouped, http.StatusNotFound},
			} {
				d := e.device(who.dev, tufrepo.GroupRepo(groupID))
				res := d.get(f)
				res.Body.Close()
				if res.StatusCode != who.status {
					t.Errorf("%s reads %s: %s, want %d", who.name, f, res.Status, who.status)
				}
			}
		}
		d := e.device(dev, tufrepo.GroupRepo(groupID))
		for _, f := range []string{"2.root.json", "0.root.json", "01.root.json", "-1.root.json", "1.timestamp.json",
			"root", "foo.json", "", "targets/", "targets/images/" + string(img.ID) + "x",
			"targets/images/" + strings.Repeat("0", 64) + "." + string(img.ID), "targets/images/../images/" + string(img.ID),
			"1.root.json/x"} {
			res := d.get(f)
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%q: %s, want 404", f, res.Status)
			}
		}
		for _, repo := range []string{"group/" + strings.ToUpper(string(groupID)), "group", "feed/Beta", "feed/Retail",
			"feeds/Retail", "group/" + string(groupID) + "/"} {
			d := e.device(dev, repo)
			res := d.get("timestamp.json")
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s/timestamp.json: %s, want 404", repo, res.Status)
			}
		}
	})
}

// TestRefreshKeepsTimestampFresh: Refresh re-signs the timestamp when half its life is gone,
// and changes nothing that is not due.
func TestRefreshKeepsTimestampFresh(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, _ := group(e)
		repo := tufrepo.GroupRepo(groupID)
		e.publishGroup(tenantID, groupID, e.image(tenantID, "app"))
		keys, err := e.tuf.PrepareFeed(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = e.st.Update(context.Background(), func(tx *store.Tx) error {
			return e.tuf.PublishFeed(context.Background(), tx, keys, api.FeedRetail, nil)
		})
		if err != nil {
			t.Fatal(err)
		}
		before := e.versions(repo)
		e.refresh()
		if got := e.versions(repo); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("refresh with nothing due changed versions %v to %v", before, got)
		}

		e.clock.Add(13 * time.Hour)
		e.refresh()
		for _, r := range []string{repo, tufrepo.FeedRepo(api.FeedRetail)} {
			got := e.versions(r)
			ts := e.file(r, metadata.TIMESTAMP, 0)
			if r == repo && (got[metadata.TIMESTAMP] != before[metadata.TIMESTAMP]+1 ||
				got[metadata.SNAPSHOT] != before[metadata.SNAPSHOT] || got[metadata.TARGETS] != before[metadata.TARGETS] ||
				got[metadata.ROOT] != before[metadata.ROOT]) {
				t.Errorf("%s: versions %v after 13 hours, want only the timestamp's bumped from %v", r, got, before)
			}
			if d := ts.Expires.Sub(e.clock.Now()); d < 23*time.Hour || d > 24*time.Hour {
				t.Errorf("%s: timestamp expires in %v, want about 24 hours", r, d)
			}
			md, err := metadata.Timestamp().FromBytes(ts.Body)
			if err != nil || !md.Signed.Expires.Equal(ts.Expires) {
				t.Errorf("%s: stored expiry %v, signed %v (%v)", r, ts.Expires, md.Signed.Expires, err)
			}
		}

		// The snapshot when it has less than 3 of its 7 days left.
		e.clock.Add(4 * 24 * time.Hour)
		e.refresh()
		got := e.versions(repo)
		if got[metadata.SNAPSHOT] != before[metadata.SNAPSHOT]+1 || got[metadata.TARGETS] != before[metadata.TARGETS] {
			t.Errorf("versions %v after 4 days, want the snapshot's bumped from %v", got, before)
		}
	})
}

// TestPublishOnlyBumpsVersions: every publication and refresh adds versions above the ones
// before; none is replaced or skipped, and the whole root chain stays.
func TestPublishOnlyBumpsVersions(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		d := e.device(dev, repo)
		last := map[string]int64{}
		steps := []func(){
			func() { e.publishGroup(tenantID, groupID, e.image(tenantID, "a")) },
			func() { e.publishGroup(tenantID, groupID) }, // an empty deployment
			func() { e.clock.Add(20 * time.Hour); e.refresh() },
			func() { e.publishGroup(tenantID, groupID, e.image(tenantID, "b")) },
			func() { e.clock.Add(300 * 24 * time.Hour); e.refresh() },
			func() { e.publishGroup(tenantID, groupID, e.image(tenantID, "c")) },
		}
		for i, step := range steps {
			step()
			got := e.versions(repo)
			for role, v := range got {
				if v < last[role] {
					t.Errorf("step %d: %s version went from %d to %d", i, role, last[role], v)
				}
			}
			if got[metadata.TIMESTAMP] <= last[metadata.TIMESTAMP] {
				t.Errorf("step %d: timestamp version %d, not above %d", i, got[metadata.TIMESTAMP], last[metadata.TIMESTAMP])
			}
			last = got
			if i == 0 {
				d.trustFirstRoot()
			}
			d.mustRefresh()
		}
		for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT} {
			for v := int64(1); v <= last[role]; v++ {
				e.file(repo, role, v) // every version is kept
			}
		}
		if last[metadata.ROOT] != 2 {
			t.Errorf("root version %d, want 2", last[metadata.ROOT])
		}
	})
}

// TestConcurrentPublishSerialises: replicas publishing to one repository at once (the first
// making it) write distinct, consecutive versions, none of them lost.
func TestConcurrentPublishSerialises(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantID, groupID, dev := group(e)
		repo := tufrepo.GroupRepo(groupID)
		// Each replica is a service of its own over the one store.
		const n = 6
		replicas := make([]*tufrepo.Service, n)
		keys := make([]tufrepo.GroupKeys, n)
		images := make([]api.Image, n)
		for i := range replicas {
			replicas[i] = tufrepo.New(e.st, keyring.New(e.st, e.kek), e.blobs, e.clock.Now)
			var err error
			if keys[i], err = replicas[i].PrepareGroup(ctx, tenantID); err != nil {
				t.Fatal(err)
			}
			images[i] = e.image(tenantID, fmt.Sprint("app ", i))
		}
		start := make(chan struct{})
		errs := make(chan error, n)
		for i, r := range replicas {
			go func() {
				<-start
				errs <- e.st.Update(ctx, func(tx *store.Tx) error { return r.PublishGroup(ctx, tx, keys[i], groupID, images[i:i+1]) })
			}()
		}
		close(start)
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		got := e.versions(repo)
		if got[metadata.ROOT] != 1 || got[metadata.TARGETS] != n || got[metadata.SNAPSHOT] != n || got[metadata.TIMESTAMP] != n {
			t.Errorf("versions %v after %d publications, want root 1 and %d of the others", got, n, n)
		}
		for v := int64(1); v <= n; v++ {
			md, err := metadata.Snapshot().FromBytes(e.file(repo, metadata.SNAPSHOT, v).Body)
			if err != nil || md.Signed.Meta["targets.json"].Version != v {
				t.Errorf("snapshot %d does not name targets %d: %v", v, v, err)
			}
		}
		d := e.device(dev, repo)
		d.trustFirstRoot()
		if targets := d.mustRefresh(); len(targets) != 1 {
			t.Errorf("targets %v", targets)
		}
	})
}

// TestPublishNeedsPrepare: PublishGroup does not reach for keys inside the caller's
// transaction: it takes the keys PrepareGroup loaded, and the zero GroupKeys (which no prepare
// function returns) is refused. (That PublishGroup cannot take the operator's keys, nor
// PublishFeed a tenant's, the compiler checks: they are of other types.)
func TestPublishNeedsPrepare(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tenantID, groupID, _ := group(e)
		err := e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishGroup(ctx, tx, tufrepo.GroupKeys{}, groupID, nil) })
		if !errors.Is(err, tufrepo.ErrNotPrepared) {
			t.Errorf("PublishGroup without PrepareGroup: %v", err)
		}
		err = e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishFeed(ctx, tx, tufrepo.FeedKeys{}, api.FeedRetail, nil) })
		if !errors.Is(err, tufrepo.ErrNotPrepared) {
			t.Errorf("PublishFeed without PrepareFeed: %v", err)
		}
		if _, err := e.tuf.PrepareGroup(ctx, keyring.Operator); err == nil {
			t.Error("PrepareGroup made group keys of the operator's")
		}
		// A repository stays its owner's.
		e.publishGroup(tenantID, groupID)
		other, err := e.tuf.PrepareGroup(ctx, ident.TenantID(ident.NewID()))
		if err != nil {
			t.Fatal(err)
		}
		err = e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishGroup(ctx, tx, other, groupID, nil) })
		if err == nil {
			t.Error("another tenant published to the group's repository")
		}
		// Bad images are refused.
		bad := e.image(tenantID, "x")
		bad.SHA256 = "00"
		keys, err := e.tuf.PrepareGroup(ctx, tenantID)
		if err != nil {
			t.Fatal(err)
		}
		err = e.st.Update(ctx, func(tx *store.Tx) error {
			return e.tuf.PublishGroup(ctx, tx, keys, groupID, []api.Image{bad})
		})
		if err == nil {
			t.Error("an image without a SHA-256 was published")
		}
		if !bytes.Contains(e.file(tufrepo.GroupRepo(groupID), metadata.ROOT, 1).Body, []byte(`"consistent_snapshot":true`)) {
			t.Error("root does not use consistent snapshots")
		}
	})
}

// TestWithdrawnReleaseLeavesFeed: a withdrawn runtime release is no longer a target of its OS
// feed, so no device is offered it; the others stay.
func TestWithdrawnReleaseLeavesFeed(t *testing.T) {
	each(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		var rels []api.RuntimeRelease
		for _, v := range []string{"3.0.0", "3.0.1"} {
			info, err := e.blobs.Put(strings.NewReader("runtime "+v), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			rels = append(rels, api.RuntimeRelease{ID: ident.NewID(), Feed: api.FeedRetail, Version: v, ImageID: ident.ImageID(ident.NewID()),
				PackageSize: info.Size, PackageSHA256: info.SHA256.String()})
		}
		withdrawn := time.Now()
		rels[0].WithdrawnAt = &withdrawn
		keys, err := e.tuf.PrepareFeed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = e.st.Update(ctx, func(tx *store.Tx) error { return e.tuf.PublishFeed(ctx, tx, keys, api.FeedRetail, rels) })
		if err != nil {
			t.Fatal(err)
		}
		d := e.device(api.Device{ID: ident.DeviceIDFromPublicKey([]byte("x")), TenantID: ident.TenantID(ident.NewID())},
			tufrepo.FeedRepo(api.FeedRetail))
		d.trustFirstRoot()
		u := d.updater()
		if _, err := u.GetTargetInfo(api.TargetRuntimePrefix + "3.0.0"); err == nil {
			t.Error("the withdrawn release is still a target of the feed")
		}
		if _, err := u.GetTargetInfo(api.TargetRuntimePrefix + "3.0.1"); err != nil {
			t.Errorf("the release not withdrawn: %v", err)
		}
	})
}
