package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/imagepkg"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
)

func post(t *testing.T, c *http.Client, u, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ownClient returns an HTTPS client of its own presenting cert (none if nil). (deviceClient
// changes the server's shared client, so two of its clients in one test are one.)
func ownClient(srv *httptest.Server, cert *tls.Certificate) *http.Client {
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: tr}
}

// updateAudit lists a tenant's audit entries of device updates.
func updateAudit(t *testing.T, w *world, principal string) []string {
	t.Helper()
	_, body := w.do(principal, "GET", "/api/v1/audit", nil)
	var got []string
	for _, e := range decodeAs[api.AuditList](t, body).Entries {
		if strings.HasPrefix(e.Action, "device.update") {
			got = append(got, fmt.Sprintf("%s %s %s by %s", e.Action, e.Target, e.Detail, e.Actor))
		}
	}
	return got
}

func reportJSON(t *testing.T, rep api.UpdateReport) string {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// updatesOf is a device's Updates as the management API shows them.
func updatesOf(t *testing.T, w *world, principal string, id ident.DeviceID) *api.DeviceUpdates {
	t.Helper()
	status, body := w.do(principal, "GET", "/api/v1/devices/"+string(id), nil)
	if status != http.StatusOK {
		t.Fatalf("show device: %d %s", status, body)
	}
	return decodeAs[api.Device](t, body).Updates
}

func TestDeviceUpdatesNamesRepositoriesAndKeys(t *testing.T) {
	w, srv := tlsWorld(t)
	c := ownClient(srv, issue(t, w, w.a.device))
	status, body := get(t, c, srv.URL+api.DevicePathUpdates)
	if status != http.StatusOK {
		t.Fatalf("updates: %d %s", status, body)
	}
	keys, err := w.keys.PublicPEM(context.Background(), w.a.tenant.ID, keyring.Image)
	if err != nil {
		t.Fatal(err)
	}
	none := ""
	who := &api.DeviceWhoami{DeviceID: w.a.device, TenantID: w.a.tenant.ID, GroupID: w.a.group.ID, CapabilitySHA256: &none}
	want := api.UpdateInfo{GroupRepo: "group/" + string(w.a.group.ID), FeedRepo: "feed/Retail", UpdatePolicy: api.PolicyAll, ImageKeys: keys, Device: who}
	if got := decodeAs[api.UpdateInfo](t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("in a group:\n got %+v\nwant %+v", got, want)
	}

	// The group follows RetailEval now.
	if status, body := w.do(adminA, "PATCH", "/api/v1/device-groups/"+string(w.a.group.ID), map[string]any{"os_feed": api.FeedRetailEval}); status != http.StatusOK {
		t.Fatalf("update group: %d %s", status, body)
	}
	_, body = get(t, c, srv.URL+api.DevicePathUpdates)
	if got := decodeAs[api.UpdateInfo](t, body); got.FeedRepo != "feed/RetailEval" {
		t.Errorf("after moving the group to RetailEval: %+v", got)
	}

	// Out of any group: no group repository, no updates by policy, but the Retail feed, so that
	// the runtime can still be renewed.
	if status, body := w.do(adminA, "PATCH", "/api/v1/devices/"+string(w.a.device), map[string]any{"device_group_id": ""}); status != http.StatusOK {
		t.Fatalf("update device: %d %s", status, body)
	}
	_, body = get(t, c, srv.URL+api.DevicePathUpdates)
	who.GroupID = ""
	want = api.UpdateInfo{FeedRepo: "feed/Retail", UpdatePolicy: api.PolicyNone, ImageKeys: keys, Device: who}
	if got := decodeAs[api.UpdateInfo](t, body); !reflect.DeepEqual(got, want) {
		t.Errorf("in no group:\n got %+v\nwant %+v", got, want)
	}

	if status, body := get(t, ownClient(srv, nil), srv.URL+api.DevicePathUpdates); status != http.StatusUnauthorized {
		t.Errorf("updates without a certificate: %d %s, want 401", status, body)
	}
}

// TestRuntimeKeysNeedNoCertificate reads the operator's runtime keys as a device at init does,
// before it has a certificate.
func TestRuntimeKeysNeedNoCertificate(t *testing.T) {
	w, srv := tlsWorld(t)
	status, body := get(t, ownClient(srv, nil), srv.URL+api.DevicePathRuntimeKeys)
	if status != http.StatusOK {
		t.Fatalf("runtime keys: %d %s", status, body)
	}
	want, err := w.keys.PublicPEM(context.Background(), keyring.Operator, keyring.Runtime)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeAs[api.RuntimeKeys](t, body)
	if !reflect.DeepEqual(got.Keys, want) || len(want) != 1 || !strings.HasPrefix(want[0], "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("runtime keys %+v, want %q", got, want)
	}
	tenantKeys, _ := w.keys.PublicPEM(context.Background(), w.a.tenant.ID, keyring.Image)
	if reflect.DeepEqual(tenantKeys, want) {
		t.Error("the runtime key is a tenant's image key")
	}
}

// TestUpdateReportDeviceIDFromCertificate: a device reports for itself only. The body cannot
// name another device, and the report lands on the device of the certificate.
func TestUpdateReportDeviceIDFromCertificate(t *testing.T) {
	w, srv := tlsWorld(t)
	other := deviceID(5)
	if err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(w.a.tenant.ID, []ident.DeviceID{other}, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := ownClient(srv, issue(t, w, w.a.device))
	installed := []api.InstalledImage{{ImageID: string(w.a.image.ID), ComponentID: string(w.a.image.ComponentID), Name: "Blinky",
		Version: "1.0.0", Type: api.ImageApplication}}
	rep := reportJSON(t, api.UpdateReport{Installed: installed, Result: api.UpdateOK, At: time.Now()})

	// Naming another device in the body is refused outright.
	for _, field := range []string{`"device_id":"` + string(other) + `",`, `"DeviceID":"` + string(other) + `",`} {
		forged := "{" + field + rep[1:]
		if status, body := post(t, c, srv.URL+api.DevicePathUpdateReport, forged); status != http.StatusBadRequest {
			t.Errorf("a report naming another device: %d %s, want 400", status, body)
		}
	}
	if u := updatesOf(t, w, adminA, other); len(u.Installed) != 0 || u.LastUpdateResult != "" {
		t.Errorf("the other device got a report: %+v", u)
	}

	if status, body := post(t, c, srv.URL+api.DevicePathUpdateReport, rep); status != http.StatusNoContent {
		t.Fatalf("report: %d %s", status, body)
	}
	u := updatesOf(t, w, readerA, w.a.device)
	if !reflect.DeepEqual(u.Installed, installed) || u.LastUpdateResult != api.UpdateOK || u.LastUpdateAt == nil ||
		!reflect.DeepEqual(u.Targeted, []ident.ImageID{w.a.image.ID}) {
		t.Errorf("the device's updates: %+v", u)
	}
	if u := updatesOf(t, w, adminA, other); len(u.Installed) != 0 {
		t.Errorf("the report landed on another device: %+v", u)
	}

	// Tenant B's device reports for itself, and tenant A's device is untouched.
	cb := ownClient(srv, issueFor(t, w, w.b.tenant.ID, w.b.device))
	if status, body := post(t, cb, srv.URL+api.DevicePathUpdateReport, reportJSON(t, api.UpdateReport{Result: api.UpdateRolledBack})); status != http.StatusNoContent {
		t.Fatalf("tenant B's report: %d %s", status, body)
	}
	if u := updatesOf(t, w, readerA, w.a.device); u.LastUpdateResult != api.UpdateOK {
		t.Errorf("tenant B's report changed tenant A's device: %+v", u)
	}
	if u := updatesOf(t, w, adminB, w.b.device); u.LastUpdateResult != api.UpdateRolledBack {
		t.Errorf("tenant B's device: %+v", u)
	}
}

// issueFor gives a tenant's device a certificate for a fresh key.
func issueFor(t *testing.T, w *world, tenantID ident.TenantID, device ident.DeviceID) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kek, _ := pki.ParseKEK(strings.Repeat("42", 32))
	cert, _, err := pki.NewAuthority(w.st, kek, nil).IssueDevice(context.Background(), tenantID, device, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
}

func TestUpdateReportMalformedRefused(t *testing.T) {
	w, srv := tlsWorld(t)
	c := ownClient(srv, issue(t, w, w.a.device))
	img := func(mod func(*api.InstalledImage)) api.InstalledImage {
		im := api.InstalledImage{ImageID: ident.NewID(), ComponentID: ident.NewID(), Name: "Blinky", Version: "1.0.0", Type: api.ImageApplication}
		mod(&im)
		return im
	}
	many := make([]api.InstalledImage, api.MaxInstalledImages+1)
	for i := range many {
		many[i] = img(func(*api.InstalledImage) {})
	}
	twice := img(func(*api.InstalledImage) {})
	ok := reportJSON(t, api.UpdateReport{Result: api.UpdateOK})
	for name, body := range map[string]string{
		"unknown result":    reportJSON(t, api.UpdateReport{Result: "great"}),
		"no result":         `{"installed":[]}`,
		"too many images":   reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: many}),
		"bad image ID":      reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.ImageID = "../../etc" })}}),
		"bad component ID":  reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.ComponentID = "" })}}),
		"bad type":          reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.Type = "rootkit" })}}),
		"bad slot":          reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.Slot = "c" })}}),
		"long name":         reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.Name = strings.Repeat("n", 101) })}}),
		"control in name":   reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{img(func(i *api.InstalledImage) { i.Name = "a\x1b[2Jb" })}}),
		"an image twice":    reportJSON(t, api.UpdateReport{Result: api.UpdateOK, Installed: []api.InstalledImage{twice, twice}}),
		"long message":      reportJSON(t, api.UpdateReport{Result: api.UpdateFailed, Message: strings.Repeat("m", 1025)}),
		"unknown field":     `{"result":"ok","root":true}`,
		"duplicate key":     `{"result":"failed","result":"ok"}`,
		"trailing data":     ok + ok,
		"not JSON":          "\x00\xff",
		"empty":             "",
		"over 64 KiB":       `{"result":"ok","message":"` + strings.Repeat("m", 64<<10) + `"}`,
		"installed is null": `{"result":"ok","installed":{}}`,
	} {
		status, resp := post(t, c, srv.URL+api.DevicePathUpdateReport, body)
		if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s, want 400 or 413", name, status, resp)
		}
	}
	if u := updatesOf(t, w, readerA, w.a.device); u.LastUpdateResult != "" || len(u.Installed) != 0 {
		t.Errorf("a refused report was recorded: %+v", u)
	}
	if got := updateAudit(t, w, readerA); len(got) != 0 {
		t.Errorf("refused reports were audited: %q", got)
	}
}

// TestUpdateFailuresAudited: failures and rollbacks are in the tenant's audit log, successes not.
func TestUpdateFailuresAudited(t *testing.T) {
	w, srv := tlsWorld(t)
	c := ownClient(srv, issue(t, w, w.a.device))
	for _, rep := range []api.UpdateReport{
		{Result: api.UpdateOK},
		{Result: api.UpdateFailed, Message: "no space\nleft on device"},
		{Result: api.UpdateRolledBack, Message: "health check failed"},
		{Result: api.UpdateOK, At: time.Now().Add(24 * time.Hour)},
	} {
		if status, body := post(t, c, srv.URL+api.DevicePathUpdateReport, reportJSON(t, rep)); status != http.StatusNoContent {
			t.Fatalf("report %+v: %d %s", rep, status, body)
		}
	}
	got := updateAudit(t, w, readerA)
	dev := "device/" + string(w.a.device)
	want := []string{
		"device.update.fail " + dev + " failed: no space left on device by " + dev,
		"device.update.fail " + dev + " rolled_back: health check failed by " + dev,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("audit:\n got %q\nwant %q", got, want)
	}
	// A device clock running ahead does not date the report in the future.
	if u := updatesOf(t, w, readerA, w.a.device); u.LastUpdateAt == nil || u.LastUpdateAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("last update at %v, from a clock a day ahead", u.LastUpdateAt)
	}
}

// TestRuntimeReleaseShipsSignedPackage publishes a runtime: what devices download is an image
// package of type runtime around it, signed with the operator's runtime key only, and the feed's
// TUF repository names it.
func TestRuntimeReleaseShipsSignedPackage(t *testing.T) {
	w, srv := tlsWorld(t)
	runtime := "\x7fELF the runtime"
	status, body := w.do(operator, "POST", "/api/v1/os/releases?feed=RetailEval&version=1.2.0", runtime)
	if status != http.StatusCreated {
		t.Fatalf("publish: %d %s", status, body)
	}
	rel := decodeAs[api.RuntimeRelease](t, body)
	if !ident.IsID(rel.ImageID) || rel.PackageSize <= int64(len(runtime)) || rel.SHA256 != ident.SHA256([]byte(runtime)).String() {
		t.Fatalf("release %+v", rel)
	}
	d, err := ident.ParseDigest(rel.PackageSHA256)
	if err != nil {
		t.Fatal(err)
	}
	f, err := w.blobs.Open(d)
	if err != nil {
		t.Fatalf("the package is not in the blob store: %v", err)
	}
	defer f.Close()
	h, err := imagepkg.ReadHeader(f)
	if err != nil {
		t.Fatal(err)
	}
	m := h.Manifest
	if m.ImageID != string(rel.ImageID) || m.ComponentID != api.RuntimeComponentID || m.Name != api.RuntimeImageName ||
		m.Version != "1.2.0" || m.Type != imagepkg.TypeRuntime || m.App != nil {
		t.Errorf("manifest %+v", m)
	}
	trusted := func(owner ident.TenantID, purpose string) map[string]*ecdsa.PublicKey {
		keys, err := w.keys.Public(context.Background(), owner, purpose)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*ecdsa.PublicKey{}
		for _, k := range keys {
			out[imagepkg.KeyID(k)] = k
		}
		return out
	}
	if _, err := h.Verify(trusted(keyring.Operator, keyring.Runtime)); err != nil {
		t.Errorf("the runtime package does not verify with the operator's runtime key: %v", err)
	}
	if _, err := h.Verify(trusted(w.a.tenant.ID, keyring.Image)); err == nil {
		t.Error("the runtime package verifies with a tenant's image key")
	}
	payload, err := io.ReadAll(h.Payload(f))
	if err != nil || string(payload) != runtime {
		t.Errorf("payload %q, %v", payload, err)
	}

	_, body = w.do(readerA, "GET", "/api/v1/os/releases?feed=RetailEval", nil)
	if l := decodeAs[[]api.RuntimeRelease](t, body); len(l) != 1 || l[0] != rel {
		t.Errorf("releases: %s", body)
	}
	c := ownClient(srv, issue(t, w, w.a.device))
	status, body = get(t, c, srv.URL+api.DevicePathTUF+"feed/RetailEval/targets.json")
	if status != http.StatusOK || !strings.Contains(body, api.TargetRuntimePrefix+"1.2.0") || !strings.Contains(body, rel.PackageSHA256) {
		t.Errorf("the feed's targets: %d %s", status, body)
	}
}

// TestDeploymentPublishesGroupRepository creates a deployment: the group's TUF targets name its
// images by their re-signed packages, in the same change.
func TestDeploymentPublishesGroupRepository(t *testing.T) {
	w, srv := tlsWorld(t)
	ids := uploadN(t, w, 2)
	status, body := deploy(w, adminA, w.a.group.ID, ids...)
	if status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, body)
	}
	c := ownClient(srv, issue(t, w, w.a.device))
	status, body = get(t, c, srv.URL+api.DevicePathTUF+"group/"+string(w.a.group.ID)+"/targets.json")
	if status != http.StatusOK {
		t.Fatalf("the group's targets: %d %s", status, body)
	}
	for _, id := range ids {
		_, show := w.do(readerA, "GET", "/api/v1/images/"+string(id), nil)
		im := decodeAs[api.Image](t, show)
		if !strings.Contains(body, string(api.TargetImagePrefix+id)) || !strings.Contains(body, im.SHA256) {
			t.Errorf("the group's targets do not name image %s by its package %s: %s", id, im.SHA256, body)
		}
	}
	if strings.Contains(body, string(w.a.image.ID)) {
		t.Errorf("the group's targets still name the image of the older deployment: %s", body)
	}

}

// TestDeviceTUFHeadersAndRange: httpapi does the HTTP of the device TUF route. A target is
// served whole or from a Range, so that downloads resume, with its SHA-256 as ETag; the newest
// metadata is JSON not to be cached unchecked, a versioned one may be; a target of no
// deployment is 404.
func TestDeviceTUFHeadersAndRange(t *testing.T) {
	w, srv := tlsWorld(t)
	ids := uploadN(t, w, 1)
	if status, body := deploy(w, adminA, w.a.group.ID, ids...); status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, body)
	}
	c := ownClient(srv, issue(t, w, w.a.device))
	repo := srv.URL + api.DevicePathTUF + "group/" + string(w.a.group.ID) + "/"
	_, show := w.do(readerA, "GET", "/api/v1/images/"+string(ids[0]), nil)
	im := decodeAs[api.Image](t, show)
	tufGet := func(file, rangeHeader string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", repo+file, nil)
		if rangeHeader != "" {
			req.Header.Set("Range", rangeHeader)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, whole := tufGet("targets/"+api.TargetImagePrefix+string(ids[0]), "")
	if res.StatusCode != http.StatusOK || ident.SHA256([]byte(whole)).String() != im.SHA256 ||
		res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("ETag") != `"`+im.SHA256+`"` {
		t.Errorf("target: %s %q, %d bytes", res.Status, res.Header, len(whole))
	}
	res, part := tufGet("targets/"+api.TargetImagePrefix+string(ids[0]), "bytes=4-")
	if res.StatusCode != http.StatusPartialContent || len(whole) < 4 || part != whole[4:] {
		t.Errorf("target from byte 4: %s, %d bytes", res.Status, len(part))
	}
	res, _ = tufGet("timestamp.json", "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" ||
		res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("timestamp.json: %s %q", res.Status, res.Header)
	}
	res, _ = tufGet("1.root.json", "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "" {
		t.Errorf("1.root.json: %s %q", res.Status, res.Header)
	}
	if res, _ = tufGet("targets/"+api.TargetImagePrefix+string(w.a.image.ID), ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("a target of no deployment: %s", res.Status)
	}
}

// TestDeviceUpdatesReposExist: the repositories a device is told to follow can be read, even
// for a group whose repository no deployment has published yet and a feed without releases.
func TestDeviceUpdatesReposExist(t *testing.T) {
	w, srv := tlsWorld(t)
	c := ownClient(srv, issue(t, w, w.a.device))
	for i := range 2 { // the second time, nothing more is published
		status, body := get(t, c, srv.URL+api.DevicePathUpdates)
		if status != http.StatusOK {
			t.Fatalf("updates: %d %s", status, body)
		}
		info := decodeAs[api.UpdateInfo](t, body)
		for _, repo := range []string{info.GroupRepo, info.FeedRepo} {
			if status, body := get(t, c, srv.URL+api.DevicePathTUF+repo+"/1.root.json"); status != http.StatusOK {
				t.Errorf("check-in %d: root of %s: %d %s", i, repo, status, body)
			}
		}
		// The group's repository holds its newest deployment (made here without publishing).
		status, body = get(t, c, srv.URL+api.DevicePathTUF+info.GroupRepo+"/targets.json")
		if status != http.StatusOK || !strings.Contains(body, api.TargetImagePrefix+string(w.a.image.ID)) || !strings.Contains(body, `"version":1`) {
			t.Errorf("check-in %d: the group's targets: %d %s", i, status, body)
		}
	}
}

// TestDeviceUpdatesNotModifiedUntilSomethingMoves: the update info carries an ETag; sent back in
// If-None-Match it gets a 304 with no body while nothing moved, and a fresh answer with another
// ETag once something did.
func TestDeviceUpdatesNotModifiedUntilSomethingMoves(t *testing.T) {
	w, srv := tlsWorld(t)
	c := ownClient(srv, issue(t, w, w.a.device))
	conditional := func(etag string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+api.DevicePathUpdates, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	conditional("") // publishes the repositories the device follows
	resp := conditional("")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" {
		t.Fatalf("updates: %d, ETag %q", resp.StatusCode, etag)
	}
	if resp := conditional(etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("nothing moved: %d, want 304", resp.StatusCode)
	}
	if resp := conditional(`"another"`); resp.StatusCode != http.StatusOK {
		t.Errorf("another ETag: %d, want 200", resp.StatusCode)
	}
	if status, body := w.do(adminA, "PATCH", "/api/v1/device-groups/"+string(w.a.group.ID), map[string]any{"os_feed": api.FeedRetailEval}); status != http.StatusOK {
		t.Fatalf("update group: %d %s", status, body)
	}
	conditional("") // publishes the RetailEval feed
	if resp := conditional(etag); resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag {
		t.Errorf("after the group moved to RetailEval: %d, ETag %q (was %q), want 200 and another", resp.StatusCode, resp.Header.Get("ETag"), etag)
	}
}
