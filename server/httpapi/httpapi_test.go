package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

// world is a service with two tenants, A and B, and an operator who has no tenant.
type world struct {
	t       testing.TB
	st      *store.Store
	api     *httpapi.API
	h       http.Handler
	tokens  map[string]string // principal → token
	a       fixture           // tenant A's objects
	b       fixture           // tenant B's objects
	blobs   *blob.Store
	blobDir string
	keys    *keyring.Keyring
	reg     *prometheus.Registry
}

type fixture struct {
	tenant  api.Tenant
	product api.Product
	group   api.DeviceGroup // a group of product with a device in it
	empty   api.DeviceGroup // a group of product without devices
	spare   api.Product     // a product without devices
	device  ident.DeviceID
	user    api.User       // a Reader, to remove
	userTok string         // the ID of user's token
	image   api.Image      // an application image
	deploy  api.Deployment // a deployment of image to group
}

// principals of the matrix.
const (
	operator    = "operator"
	adminA      = "adminA"
	contribA    = "contributorA"
	readerA     = "readerA"
	adminB      = "adminB"
	anonymous   = "anonymous"
	forgedToken = "forged"
)

func deviceID(n int) ident.DeviceID {
	return ident.DeviceIDFromPublicKey([]byte(fmt.Sprintf("device-%d", n)))
}

func newWorld(t testing.TB, backend string) *world {
	t.Helper()
	st := storetest.Open(t, backend)
	kek, err := pki.ParseKEK(strings.Repeat("42", 32))
	if err != nil {
		t.Fatal(err)
	}
	blobDir := t.TempDir()
	blobs, err := blob.Open(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	keys := keyring.New(st, kek)
	reg := prometheus.NewRegistry()
	a := httpapi.New(httpapi.Config{Store: st, CA: pki.NewAuthority(st, kek, nil), Blobs: blobs, Keys: keys,
		TUF: tufrepo.New(st, keys, blobs, nil), Registry: reg, Gatherer: reg})
	mux := http.NewServeMux()
	a.Register(mux)
	w := &world{t: t, st: st, api: a, h: mux, tokens: map[string]string{}, blobs: blobs, blobDir: blobDir, keys: keys, reg: reg}
	now := time.Now().UTC()
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		_, _, tok, err := auth.NewUser(tx, api.User{Email: "operator", Operator: true, CreatedAt: now}, 0)
		w.tokens[operator] = tok
		if err != nil {
			return err
		}
		mk := func(name string, admin string, extra map[string]api.Role, n int) (fixture, error) {
			var f fixture
			f.tenant = api.Tenant{ID: ident.TenantID(ident.NewID()), Name: name, CreatedAt: now}
			if err := tx.CreateTenant(f.tenant); err != nil {
				return f, err
			}
			_, _, tok, err := auth.NewUser(tx, api.User{TenantID: f.tenant.ID, Email: "admin@" + name, Role: api.RoleAdministrator, CreatedAt: now}, 0)
			w.tokens[admin] = tok
			if err != nil {
				return f, err
			}
			for p, role := range extra {
				_, _, tok, err := auth.NewUser(tx, api.User{TenantID: f.tenant.ID, Email: p + "@" + name, Role: role, CreatedAt: now}, 0)
				if err != nil {
					return f, err
				}
				w.tokens[p] = tok
			}
			var leaverToken store.Token
			if f.user, leaverToken, _, err = auth.NewUser(tx, api.User{TenantID: f.tenant.ID, Email: "leaver@" + name, Role: api.RoleReader, CreatedAt: now}, 0); err != nil {
				return f, err
			}
			f.userTok = leaverToken.ID
			f.product = api.Product{ID: ident.ProductID(ident.NewID()), TenantID: f.tenant.ID, Name: "Toaster", CreatedAt: now}
			f.group = api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: f.tenant.ID, ProductID: f.product.ID, Name: "Production",
				OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyAll, CreatedAt: now}
			f.empty = api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: f.tenant.ID, ProductID: f.product.ID, Name: "Spare",
				OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyAll, CreatedAt: now}
			if err := tx.CreateProduct(f.product, []api.DeviceGroup{f.group, f.empty}); err != nil {
				return f, err
			}
			f.spare = api.Product{ID: ident.ProductID(ident.NewID()), TenantID: f.tenant.ID, Name: "Spare", CreatedAt: now}
			if err := tx.CreateProduct(f.spare, nil); err != nil {
				return f, err
			}
			f.device = deviceID(n)
			if _, err := tx.ClaimDevices(f.tenant.ID, []ident.DeviceID{f.device}, now); err != nil {
				return f, err
			}
			if err := tx.SetDeviceGroup(f.tenant.ID, f.device, f.group.ID); err != nil {
				return f, err
			}
			f.image, f.deploy, err = addDeployment(tx, blobs, f.tenant.ID, f.group.ID, now)
			return f, err
		}
		if w.a, err = mk("tenant-a", adminA, map[string]api.Role{contribA: api.RoleContributor, readerA: api.RoleReader}, 1); err != nil {
			return err
		}
		w.b, err = mk("tenant-b", adminB, nil, 2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// do sends a request as principal and returns the status and body.
func (w *world) do(principal, method, path string, body any) (int, string) {
	w.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			w.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch principal {
	case anonymous:
	case forgedToken:
		req.Header.Set("Authorization", "Bearer rmp_"+strings.Repeat("0", 64))
	default:
		req.Header.Set("Authorization", "Bearer "+w.tokens[principal])
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// decodeAs decodes a JSON answer.
func decodeAs[T any](t testing.TB, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return v
}

func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}
