package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/format/manifest"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/store"
)

// addDeployment gives a tenant an application image (a stand-in package in the blob store) and
// a deployment of it to a group, straight in the store, for the route matrix.
func addDeployment(tx *store.Tx, blobs *blob.Store, tenantID ident.TenantID, groupID ident.GroupID, now time.Time) (api.Image, api.Deployment, error) {
	info, err := blobs.Put(strings.NewReader("package of "+string(tenantID)), 1<<10)
	if err != nil {
		return api.Image{}, api.Deployment{}, err
	}
	im := store.ImageRecord{Image: api.Image{ID: ident.ImageID(ident.NewID()), TenantID: tenantID, ComponentID: ident.ComponentID(ident.NewID()),
		Name: "Blinky", Version: "1.0.0", Type: api.ImageApplication, Size: info.Size, SHA256: info.SHA256.String(),
		PayloadSize: 1, PayloadSHA256: ident.SHA256([]byte("x")).String(), UploadedAt: now.Truncate(time.Microsecond),
		UploadedBy: "dev@" + string(tenantID)}, ManifestSHA256: ident.SHA256([]byte(tenantID)).String()}
	if err := tx.AddImage(im); err != nil {
		return api.Image{}, api.Deployment{}, err
	}
	d := api.Deployment{ID: ident.DeploymentID(ident.NewID()), TenantID: tenantID, GroupID: groupID, ImageIDs: []ident.ImageID{im.ID},
		CreatedAt: now, CreatedBy: "admin@" + string(tenantID)}
	return im.Image, d, tx.AddDeployment(d)
}

// devKey is a developer's signing key, as `rampart image pack` would use.
func devKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pkg describes a package to build.
type pkg struct {
	imageID            ident.ImageID
	componentID        ident.ComponentID
	name, version, typ string
	payload            []byte
}

// app returns a fresh application package of its own component.
func app(payload string) pkg {
	return pkg{imageID: ident.ImageID(ident.NewID()), componentID: ident.ComponentID(ident.NewID()), name: "Blinky", version: "1.0.0",
		typ: imagepkg.TypeApplication, payload: []byte(payload)}
}

func (p pkg) manifest() imagepkg.Manifest {
	m := imagepkg.Manifest{Format: 1, ImageID: string(p.imageID), ComponentID: string(p.componentID), Name: p.name,
		Version: p.version, Type: p.typ, PayloadSize: int64(len(p.payload)), PayloadSHA256: ident.SHA256(p.payload)}
	if p.typ == imagepkg.TypeApplication {
		m.App = &manifest.App{SchemaVersion: 1, ComponentId: string(p.componentID), Name: p.name, EntryPoint: "blinky.wasm",
			Capabilities: manifest.Capabilities{AllowedConnections: []string{"example.com:443"}}}
	}
	return m
}

// build writes the package, signed by key.
func (p pkg) build(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := imagepkg.Write(&b, p.manifest(), bytes.NewReader(p.payload), key); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// send sends a request with body as it is (its length unknown to the server unless size >= 0).
func (w *world) send(principal, method, path string, body io.Reader, size int64) (int, string) {
	w.t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+w.tokens[principal])
	req.Header.Set("Content-Type", "application/octet-stream")
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func (w *world) upload(principal string, pkg []byte) (int, string) {
	w.t.Helper()
	return w.send(principal, "POST", "/api/v1/images", bytes.NewReader(pkg), int64(len(pkg)))
}

// blobCount counts the files in the blob store, temporary files included.
func (w *world) blobCount(t testing.TB) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(w.blobDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantRefused checks an upload was refused with status and a message matching want, and that
// it left no image and no blob behind.
func wantRefused(t *testing.T, w *world, blobsBefore int, status int, body string, wantStatus int, want string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, want) {
		t.Errorf("got %d %s, want %d with %q", status, body, wantStatus, want)
	}
	if n := w.blobCount(t); n != blobsBefore {
		t.Errorf("the refused upload left %d files in the blob store", n-blobsBefore)
	}
	_, list := w.do(readerA, "GET", "/api/v1/images", nil)
	if images := decodeAs[[]api.Image](t, list); len(images) != 1 {
		t.Errorf("the refused upload left an image: %s", list)
	}
}

func TestImageUploadAndRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		p := app("\x00asm blinky")
		status, body := w.upload(contribA, p.build(t, devKey(t)))
		if status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
		im := decodeAs[api.Image](t, body)
		if im.ID != p.imageID || im.ComponentID != p.componentID || im.TenantID != w.a.tenant.ID || im.Type != api.ImageApplication ||
			im.Name != "Blinky" || im.Version != "1.0.0" || im.PayloadSize != int64(len(p.payload)) ||
			im.PayloadSHA256 != ident.SHA256(p.payload).String() || im.UploadedBy != "contributorA@tenant-a" ||
			!strings.Contains(string(im.AppManifest), `"EntryPoint":"blinky.wasm"`) {
			t.Errorf("uploaded image: %+v", im)
		}
		if status, body := w.do(readerA, "GET", "/api/v1/images/"+string(im.ID), nil); status != 200 || decodeAs[api.Image](t, body).SHA256 != im.SHA256 {
			t.Errorf("show: %d %s", status, body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/images?component="+string(p.componentID), nil)
		if l := decodeAs[[]api.Image](t, body); len(l) != 1 || l[0].ID != im.ID {
			t.Errorf("list by component: %s", body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/images", nil)
		if l := decodeAs[[]api.Image](t, body); len(l) != 2 || l[0].ID != im.ID {
			t.Errorf("list, newest first: %s", body)
		}
		if status, body := w.do(readerA, "GET", "/api/v1/images?component=nope", nil); status != http.StatusBadRequest {
			t.Errorf("list by a malformed component: %d %s", status, body)
		}
		for _, who := range []string{adminB} {
			if status, body := w.do(who, "GET", "/api/v1/images/"+string(im.ID), nil); status != http.StatusNotFound {
				t.Errorf("tenant B shows tenant A's image: %d %s", status, body)
			}
			if status, body := w.do(who, "GET", "/api/v1/images/"+string(im.ID)+"/package", nil); status != http.StatusNotFound {
				t.Errorf("tenant B downloads tenant A's image: %d %s", status, body)
			}
		}
		_, body = w.do(readerA, "GET", "/api/v1/audit", nil)
		if l := decodeAs[api.AuditList](t, body); len(l.Entries) != 1 || l.Entries[0].Action != "image.add" || l.Entries[0].Target != "image/"+string(im.ID) {
			t.Errorf("audit: %s", body)
		}
	})
}

// TestImageSameIDOtherContentRefused uploads an image, then another package under the same
// image ID: refused, and the first stays as it was. The same package again is idempotent.
func TestImageSameIDOtherContentRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		key := devKey(t)
		p := app("version one")
		first := p.build(t, key)
		status, body := w.upload(contribA, first)
		if status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
		stored := decodeAs[api.Image](t, body)

		// The same package again, even signed anew (a new signature, the same manifest): 200,
		// the image as stored the first time.
		for _, again := range [][]byte{first, p.build(t, key), p.build(t, devKey(t))} {
			status, body := w.upload(contribA, again)
			if status != http.StatusOK || decodeAs[api.Image](t, body).SHA256 != stored.SHA256 {
				t.Errorf("the same image again: %d %s, want 200 with the stored image", status, body)
			}
		}

		blobs := w.blobCount(t)
		other := p
		other.payload = []byte("version two, evil")
		renamed := p
		renamed.version = "1.0.1"
		for name, q := range map[string]pkg{"other payload": other, "other version": renamed} {
			status, body := w.upload(contribA, q.build(t, key))
			if status != http.StatusConflict || !strings.Contains(body, "already exists with other content; an image can only be replaced by another image") {
				t.Errorf("%s under the same image ID: %d %s, want 409", name, status, body)
			}
		}
		if n := w.blobCount(t); n != blobs {
			t.Errorf("refused uploads left %d blobs", n-blobs)
		}
		_, body = w.do(readerA, "GET", "/api/v1/images/"+string(p.imageID)+"/package", nil)
		if ident.SHA256([]byte(body)).String() != stored.SHA256 {
			t.Error("the stored package changed")
		}
		_, body = w.do(readerA, "GET", "/api/v1/audit", nil)
		if l := decodeAs[api.AuditList](t, body); len(l.Entries) != 1 {
			t.Errorf("%d audit entries, want the one upload: %s", len(l.Entries), body)
		}

		// Image IDs are each tenant's own: another tenant's upload of the ID is its own image and
		// tells it nothing of tenant A's.
		if status, body := w.upload(adminB, other.build(t, key)); status != http.StatusCreated {
			t.Errorf("tenant B uploading an image ID tenant A has: %d %s, want 201", status, body)
		}
	})
}

// endless yields zeros for ever.
type endless struct{}

func (endless) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// TestImageUploadTamperedPayloadRefused changes, cuts short and extends the payload of a signed
// package: each is refused with 400, and nothing is kept.
func TestImageUploadTamperedPayloadRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	p := app("the real payload, 32 bytes long!")
	good := p.build(t, devKey(t))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	before := w.blobCount(t)
	for name, body := range map[string][]byte{
		"a payload byte changed": flipped,
		"the payload cut short":  good[:len(good)-5],
		"a byte appended":        append(bytes.Clone(good), 'x'),
		"the payload missing":    good[:len(good)-len(p.payload)],
	} {
		t.Run(name, func(t *testing.T) {
			status, resp := w.upload(contribA, body)
			wantRefused(t, w, before, status, resp, http.StatusBadRequest, "payload does not match its manifest")
		})
	}
	t.Run("garbage", func(t *testing.T) {
		status, resp := w.upload(contribA, []byte("this is no image package at all"))
		wantRefused(t, w, before, status, resp, http.StatusBadRequest, "image package refused")
	})
	t.Run("empty", func(t *testing.T) {
		status, resp := w.upload(contribA, nil)
		wantRefused(t, w, before, status, resp, http.StatusBadRequest, "image package refused")
	})
	// The refused uploads left the service able to take the real package.
	if status, body := w.upload(contribA, good); status != http.StatusCreated {
		t.Errorf("the good package after the refusals: %d %s", status, body)
	}
}

// TestImageUploadEndlessDataRefused sends a package followed by a stream that never ends: the
// service stops reading at the declared payload size plus one byte and refuses it.
func TestImageUploadEndlessDataRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	good := app("payload").build(t, devKey(t))
	before := w.blobCount(t)
	status, body := w.send(contribA, "POST", "/api/v1/images", io.MultiReader(bytes.NewReader(good), endless{}), -1)
	wantRefused(t, w, before, status, body, http.StatusBadRequest, "payload does not match its manifest")

	// The same once the image is stored: a retry with extra bytes is refused as well.
	if status, body := w.upload(contribA, good); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	status, body = w.send(contribA, "POST", "/api/v1/images", io.MultiReader(bytes.NewReader(good), endless{}), -1)
	if status != http.StatusBadRequest {
		t.Errorf("the stored image again with endless data: %d %s, want 400", status, body)
	}
}

// readCounter counts what is read of it.
type readCounter struct {
	r io.Reader
	n int64
}

func (c *readCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// TestImageOverSizeLimitRefused sends more than the limit: announced by Content-Length (refused
// before a byte is read), or streamed without a length (refused at the limit). The limit is
// lowered for the streamed case, so that the test need not send 256 MiB.
func TestImageOverSizeLimitRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	before := w.blobCount(t)
	lazy := &readCounter{r: endless{}}
	status, body := w.send(contribA, "POST", "/api/v1/images", lazy, api.MaxImageSize+1)
	wantRefused(t, w, before, status, body, http.StatusRequestEntityTooLarge, "larger than")
	if lazy.n != 0 {
		t.Errorf("the service read %d bytes of an upload announced as too large", lazy.n)
	}

	w.api.SetMaxImageSize(4 << 10)
	big := app(strings.Repeat("x", 8<<10)).build(t, devKey(t))
	status, body = w.send(contribA, "POST", "/api/v1/images", bytes.NewReader(big), -1)
	wantRefused(t, w, before, status, body, http.StatusRequestEntityTooLarge, "larger than 4096 bytes")
	small := app("fits").build(t, devKey(t))
	if status, body := w.send(contribA, "POST", "/api/v1/images", bytes.NewReader(small), -1); status != http.StatusCreated {
		t.Errorf("a package within the limit: %d %s", status, body)
	}
}

func TestImageRuntimeTypeRefusedFromTenant(t *testing.T) {
	w := newWorld(t, "sqlite")
	p := pkg{imageID: ident.ImageID(ident.NewID()), componentID: api.RuntimeComponentID, name: "rampart-runtime", version: "9.9.9",
		typ: imagepkg.TypeRuntime, payload: []byte("an evil runtime")}
	before := w.blobCount(t)
	status, body := w.upload(adminA, p.build(t, devKey(t)))
	wantRefused(t, w, before, status, body, http.StatusBadRequest, "rampart os publish")
}

// TestImageIsResignedWithTenantKey downloads an uploaded package: it verifies with the tenant's
// image-signing key and not with the developer's, which the service dropped; its manifest and
// payload are the developer's, byte for byte.
func TestImageIsResignedWithTenantKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		dev := devKey(t)
		p := app("\x00asm the app")
		uploaded := p.build(t, dev)
		if status, body := w.upload(contribA, uploaded); status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
		status, got := w.do(readerA, "GET", "/api/v1/images/"+string(p.imageID)+"/package", nil)
		if status != http.StatusOK {
			t.Fatalf("download: %d %s", status, got)
		}
		r := strings.NewReader(got)
		h, err := imagepkg.ReadHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		tenantKeys, err := w.keys.Public(context.Background(), w.a.tenant.ID, keyring.Image)
		if err != nil {
			t.Fatal(err)
		}
		trusted := map[string]*ecdsa.PublicKey{}
		for _, k := range tenantKeys {
			trusted[imagepkg.KeyID(k)] = k
		}
		if _, err := h.Verify(trusted); err != nil {
			t.Errorf("the stored package does not verify with the tenant's image key: %v", err)
		}
		if _, err := h.Verify(map[string]*ecdsa.PublicKey{imagepkg.KeyID(&dev.PublicKey): &dev.PublicKey}); !errors.Is(err, imagepkg.ErrUntrusted) {
			t.Errorf("the stored package still verifies with the developer's key: %v", err)
		}
		orig, _ := imagepkg.ReadHeader(bytes.NewReader(uploaded))
		if !bytes.Equal(h.ManifestBytes, orig.ManifestBytes) {
			t.Error("the manifest changed on re-signing")
		}
		payload, err := io.ReadAll(h.Payload(r))
		if err != nil || !bytes.Equal(payload, p.payload) {
			t.Errorf("payload %q, %v; want the uploaded one", payload, err)
		}
		// Another tenant's key does not verify it either.
		bKeys, _ := w.keys.Public(context.Background(), w.b.tenant.ID, keyring.Image)
		if _, err := h.Verify(map[string]*ecdsa.PublicKey{imagepkg.KeyID(bKeys[0]): bKeys[0]}); err == nil {
			t.Error("tenant A's package verifies with tenant B's key")
		}

		// Downloads resume: Range is honoured.
		req := httptest.NewRequest("GET", "/api/v1/images/"+string(p.imageID)+"/package", nil)
		req.Header.Set("Authorization", "Bearer "+w.tokens[readerA])
		req.Header.Set("Range", "bytes=10-")
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusPartialContent || rec.Body.String() != got[10:] || rec.Header().Get("Content-Type") != "application/octet-stream" {
			t.Errorf("range download: %d %q", rec.Code, rec.Header())
		}
	})
}

// uploadN uploads n fresh application packages as tenant A's Contributor and returns their IDs.
func uploadN(t *testing.T, w *world, n int) []ident.ImageID {
	t.Helper()
	key := devKey(t)
	var ids []ident.ImageID
	for i := range n {
		p := app(fmt.Sprintf("app %d", i))
		if status, body := w.upload(contribA, p.build(t, key)); status != http.StatusCreated {
			t.Fatalf("upload %d: %d %s", i, status, body)
		}
		ids = append(ids, p.imageID)
	}
	return ids
}

func deploy(w *world, principal string, groupID ident.GroupID, ids ...ident.ImageID) (int, string) {
	return w.do(principal, "POST", "/api/v1/deployments", api.CreateDeploymentRequest{DeviceGroupID: groupID, ImageIDs: ids})
}

func TestDeploymentMaxTenImages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		ids := uploadN(t, w, api.MaxDeploymentImages+1)
		status, body := deploy(w, adminA, w.a.group.ID, ids...)
		if status != http.StatusBadRequest || !strings.Contains(body, "want 1 to 10 images, got 11") {
			t.Errorf("11 images: %d %s, want 400", status, body)
		}
		if status, body := deploy(w, adminA, w.a.group.ID); status != http.StatusBadRequest {
			t.Errorf("no images: %d %s, want 400", status, body)
		}
		status, body = deploy(w, adminA, w.a.group.ID, ids[:10]...)
		if status != http.StatusCreated {
			t.Fatalf("10 images: %d %s", status, body)
		}
		d := decodeAs[api.Deployment](t, body)
		if len(d.ImageIDs) != 10 || d.GroupID != w.a.group.ID || d.GroupName != "Toaster/Production" || d.CreatedBy != "admin@tenant-a" {
			t.Errorf("deployment %+v", d)
		}
		// The group's devices now target the ten images.
		_, body = w.do(readerA, "GET", "/api/v1/devices/"+string(w.a.device), nil)
		if dev := decodeAs[api.Device](t, body); dev.Updates == nil || len(dev.Updates.Targeted) != 10 || dev.Updates.Targeted[0] != ids[0] {
			t.Errorf("device after the deployment: %s", body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/deployments?device_group="+string(w.a.group.ID), nil)
		if l := decodeAs[[]api.Deployment](t, body); len(l) != 2 || l[0].ID != d.ID {
			t.Errorf("the group's deployments, newest first: %s", body)
		}
		if status, body := w.do(readerA, "GET", "/api/v1/deployments/"+string(d.ID), nil); status != http.StatusOK {
			t.Errorf("show: %d %s", status, body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/audit", nil)
		l := decodeAs[api.AuditList](t, body)
		if last := l.Entries[len(l.Entries)-1]; last.Action != "deployment.create" || last.Target != "deployment/"+string(d.ID) {
			t.Errorf("last audit entry %+v, want deployment.create", last)
		}
	})
}

func TestDeploymentDuplicateComponentRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	key := devKey(t)
	v1 := app("v1")
	v2 := v1
	v2.imageID, v2.version, v2.payload = ident.ImageID(ident.NewID()), "2.0.0", []byte("v2")
	for _, p := range []pkg{v1, v2} {
		if status, body := w.upload(contribA, p.build(t, key)); status != http.StatusCreated {
			t.Fatalf("upload: %d %s", status, body)
		}
	}
	status, body := deploy(w, adminA, w.a.group.ID, v1.imageID, v2.imageID)
	if status != http.StatusBadRequest || !strings.Contains(body, "both of component "+string(v1.componentID)) {
		t.Errorf("two versions of one component: %d %s, want 400 naming the component", status, body)
	}
	if status, body := deploy(w, adminA, w.a.group.ID, v1.imageID, v1.imageID); status != http.StatusBadRequest || !strings.Contains(body, "listed twice") {
		t.Errorf("one image twice: %d %s, want 400", status, body)
	}
	_, body = w.do(readerA, "GET", "/api/v1/deployments?device_group="+string(w.a.group.ID), nil)
	if l := decodeAs[[]api.Deployment](t, body); len(l) != 1 {
		t.Errorf("a refused deployment was stored: %s", body)
	}
}

// TestDeploymentOtherTenantsImageIs404 tries to deploy another tenant's image, and to another
// tenant's group: 404 both, as if they did not exist.
func TestDeploymentOtherTenantsImageIs404(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		ids := uploadN(t, w, 1)
		if status, body := deploy(w, adminB, w.b.group.ID, ids[0]); status != http.StatusNotFound || !strings.Contains(body, "image "+string(ids[0])+" not found") {
			t.Errorf("tenant B deploying tenant A's image: %d %s, want 404", status, body)
		}
		if status, body := deploy(w, adminB, w.b.group.ID, w.b.image.ID, w.a.image.ID); status != http.StatusNotFound {
			t.Errorf("tenant B deploying its image and tenant A's: %d %s, want 404", status, body)
		}
		if status, body := deploy(w, adminA, w.b.group.ID, ids[0]); status != http.StatusNotFound || !strings.Contains(body, "device group") {
			t.Errorf("tenant A deploying to tenant B's group: %d %s, want 404", status, body)
		}
		if status, body := w.do(adminB, "GET", "/api/v1/deployments/"+string(w.a.deploy.ID), nil); status != http.StatusNotFound {
			t.Errorf("tenant B showing tenant A's deployment: %d %s", status, body)
		}
		if status, body := w.do(adminB, "GET", "/api/v1/deployments?device_group="+string(w.a.group.ID), nil); status != http.StatusNotFound {
			t.Errorf("tenant B listing tenant A's group's deployments: %d %s", status, body)
		}
		_, body := w.do(adminB, "GET", "/api/v1/deployments", nil)
		if l := decodeAs[[]api.Deployment](t, body); len(l) != 1 || l[0].ID != w.b.deploy.ID {
			t.Errorf("tenant B's deployments: %s", body)
		}
	})
}

func TestDeploymentNeedsAdministrator(t *testing.T) {
	w := newWorld(t, "sqlite")
	ids := uploadN(t, w, 1)
	if status, body := deploy(w, contribA, w.a.group.ID, ids...); status != http.StatusForbidden {
		t.Errorf("a Contributor deploying: %d %s, want 403", status, body)
	}
	if status, body := w.upload(readerA, app("x").build(t, devKey(t))); status != http.StatusForbidden {
		t.Errorf("a Reader uploading: %d %s, want 403", status, body)
	}
}

// FuzzAddImage uploads arbitrary bytes: never a 5xx, and a refused upload leaves no blob.
func FuzzAddImage(f *testing.F) {
	good := app("payload").build(f, devKey(f))
	for _, seed := range [][]byte{good, good[:len(good)-1], append(bytes.Clone(good), 0), good[:20], []byte("garbage"), nil} {
		f.Add(seed)
	}
	w := newWorld(f, "sqlite")
	f.Fuzz(func(t *testing.T, body []byte) {
		w.t = t
		before := w.blobCount(t)
		status, resp := w.upload(contribA, body)
		if status >= 500 {
			t.Fatalf("%d %s", status, resp)
		}
		if status >= 400 && w.blobCount(t) != before {
			t.Fatalf("a refused upload (%d %s) left a blob", status, resp)
		}
	})
}

func TestDeploymentShowsProgressOfNewestOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(readerA, "GET", "/api/v1/deployments", nil)
		ds := decodeAs[[]api.Deployment](t, body)
		if status != http.StatusOK || len(ds) != 1 || ds[0].Progress == nil ||
			*ds[0].Progress != (api.DeploymentProgress{Devices: 1}) {
			t.Fatalf("deployments: %d %s, want one with its group's one device, not yet updated", status, body)
		}
		status, body = w.do(readerA, "GET", "/api/v1/deployments/"+string(w.a.deploy.ID), nil)
		if d := decodeAs[api.Deployment](t, body); status != http.StatusOK || d.Progress == nil || d.Progress.Devices != 1 {
			t.Errorf("show deployment: %d %s", status, body)
		}
		status, body = w.do(adminA, "POST", "/api/v1/deployments", api.CreateDeploymentRequest{DeviceGroupID: w.a.group.ID, ImageIDs: []ident.ImageID{w.a.image.ID}})
		if status != http.StatusCreated {
			t.Fatalf("new deployment: %d %s", status, body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/deployments", nil)
		ds = decodeAs[[]api.Deployment](t, body)
		if len(ds) != 2 || ds[0].Progress == nil || ds[1].Progress != nil {
			t.Errorf("after a newer deployment: %s, want progress on the newest only", body)
		}
	})
}
