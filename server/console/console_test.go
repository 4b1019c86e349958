package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/blob"
	"github.com/rampart-iot/rampart/server/console"
	"github.com/rampart-iot/rampart/server/httpapi"
	"github.com/rampart-iot/rampart/server/keyring"
	"github.com/rampart-iot/rampart/server/pki"
	"github.com/rampart-iot/rampart/server/store"
	"github.com/rampart-iot/rampart/server/store/storetest"
	"github.com/rampart-iot/rampart/server/tufrepo"
)

const origin = "https://rampart.test"

// world is a service with its console and two tenants: A (an Administrator, a Contributor and
// a Reader, a product with a group and a device) and B (an Administrator).
type world struct {
	t      testing.TB
	st     *store.Store
	h      http.Handler
	tokens map[string]string
	users  map[string]string // principal: email
	a      struct {
		tenant  api.Tenant
		product api.Product
		group   api.DeviceGroup
		device  ident.DeviceID
	}
}

func newWorld(t testing.TB) *world {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	kek, err := pki.ParseKEK(strings.Repeat("42", 32))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := keyring.New(st, kek)
	reg := prometheus.NewRegistry()
	service := httpapi.New(httpapi.Config{Store: st, CA: pki.NewAuthority(st, kek, nil), Blobs: blobs, Keys: keys,
		TUF: tufrepo.New(st, keys, blobs, nil), Registry: reg})
	mux := http.NewServeMux()
	service.Register(mux)
	mux.Handle("/", console.New(console.Config{API: mux}))
	w := &world{t: t, st: st, h: mux, tokens: map[string]string{}, users: map[string]string{}}
	now := time.Now().UTC()
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		mkUser := func(tenant ident.TenantID, p string, role api.Role) error {
			email := p + "@example.com"
			_, _, tok, err := auth.NewUser(tx, api.User{TenantID: tenant, Email: email, Role: role, CreatedAt: now}, 0)
			w.tokens[p], w.users[p] = tok, email
			return err
		}
		a := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "a", CreatedAt: now}
		b := api.Tenant{ID: ident.TenantID(ident.NewID()), Name: "b", CreatedAt: now}
		for _, tn := range []api.Tenant{a, b} {
			if err := tx.CreateTenant(tn); err != nil {
				return err
			}
		}
		for p, role := range map[string]api.Role{"adminA": api.RoleAdministrator, "contribA": api.RoleContributor, "readerA": api.RoleReader} {
			if err := mkUser(a.ID, p, role); err != nil {
				return err
			}
		}
		if err := mkUser(b.ID, "adminB", api.RoleAdministrator); err != nil {
			return err
		}
		w.a.tenant = a
		w.a.product = api.Product{ID: ident.ProductID(ident.NewID()), TenantID: a.ID, Name: "Toaster", CreatedAt: now}
		w.a.group = api.DeviceGroup{ID: ident.GroupID(ident.NewID()), TenantID: a.ID, ProductID: w.a.product.ID, Name: "Production",
			OSFeed: api.FeedRetail, UpdatePolicy: api.PolicyAll, CreatedAt: now}
		if err := tx.CreateProduct(w.a.product, []api.DeviceGroup{w.a.group}); err != nil {
			return err
		}
		w.a.device = ident.DeviceIDFromPublicKey([]byte("device-1"))
		if _, err := tx.ClaimDevices(a.ID, []ident.DeviceID{w.a.device}, now); err != nil {
			return err
		}
		return tx.SetDeviceGroup(a.ID, w.a.device, w.a.group.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// browser is one browser's cookies and the CSRF token of the last page it read.
type browser struct {
	w       *world
	cookies map[string]*http.Cookie
	csrf    string
}

type answer struct {
	status int
	body   string
	header http.Header
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (w *world) browser() *browser { return &browser{w: w, cookies: map[string]*http.Cookie{}} }

// send makes a request as a browser would (Origin on POST), keeping cookies and the CSRF token.
func (b *browser) send(method, path string, form url.Values, hdr map[string]string) answer {
	b.w.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, origin+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
	} else {
		req = httptest.NewRequest(method, origin+path, nil)
	}
	req.RemoteAddr = "192.0.2.7:40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.w.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	if m := csrfInput.FindStringSubmatch(rec.Body.String()); m != nil {
		b.csrf = m[1]
	}
	return answer{rec.Code, rec.Body.String(), rec.Header()}
}

func (b *browser) get(path string) answer { return b.send("GET", path, nil, nil) }

// post sends a form with the CSRF token the browser holds.
func (b *browser) post(path string, form url.Values) answer {
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	return b.send("POST", path, form, nil)
}

// signIn signs in with principal's token.
func (w *world) signIn(principal string) *browser {
	w.t.Helper()
	b := w.browser()
	b.get("/login")
	a := b.post("/login", url.Values{"token": {w.tokens[principal]}})
	if a.status != http.StatusSeeOther || b.cookies["__Host-rampart-session"] == nil {
		w.t.Fatalf("sign in as %s: %d %s", principal, a.status, a.body)
	}
	b.get("/")
	return b
}

func (w *world) products() []string {
	var names []string
	err := w.st.View(context.Background(), func(tx *store.Tx) error {
		ps, err := tx.Products(w.a.tenant.ID)
		for _, p := range ps {
			names = append(names, p.Name)
		}
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return names
}

func TestConsoleSessionCookieIsHttpOnlySecureStrict(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	c := b.cookies["__Host-rampart-session"]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, Path=/, no Domain", c)
	}
	if strings.Contains(c.Value, w.tokens["adminA"]) {
		t.Error("the session cookie carries the API token")
	}
	if a := b.get("/"); a.status != http.StatusOK || !strings.Contains(a.body, "adminA@example.com") {
		t.Errorf("overview after sign-in: %d %s", a.status, a.body)
	}
}

func TestConsoleSignInWithForgedTokenIsRefused(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.get("/login")
	a := b.post("/login", url.Values{"token": {"rmp_" + strings.Repeat("0", 64)}})
	if a.status != http.StatusUnauthorized || b.cookies["__Host-rampart-session"] != nil {
		t.Errorf("forged token: %d, cookies %v", a.status, b.cookies)
	}
}

func TestConsoleSignInWithoutLoginCSRFCookieIsRefused(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	a := b.post("/login", url.Values{"token": {w.tokens["adminA"]}, "csrf": {"guessed"}})
	if a.status != http.StatusForbidden || b.cookies["__Host-rampart-session"] != nil {
		t.Errorf("sign-in without the form's CSRF cookie: %d", a.status)
	}
}

func TestConsolePageWithoutSessionRedirectsToSignIn(t *testing.T) {
	w := newWorld(t)
	for _, p := range []string{"/", "/products", "/devices/" + string(w.a.device), "/errors.csv", "/users"} {
		if a := w.browser().get(p); a.status != http.StatusSeeOther || a.header.Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d %s", p, a.status, a.header.Get("Location"))
		}
	}
	if a := w.browser().send("POST", "/products", url.Values{"name": {"X"}}, nil); a.status != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d", a.status)
	}
}

func TestConsoleForgedChangeWithoutCSRFTokenIsRefused(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	for _, tok := range []string{"", "forged", b.csrf + "x"} {
		a := b.send("POST", "/products", url.Values{"name": {"Forged"}, "csrf": {tok}}, nil)
		if a.status != http.StatusForbidden {
			t.Errorf("CSRF token %q: %d %s", tok, a.status, a.body)
		}
	}
	if got := w.products(); len(got) != 1 {
		t.Errorf("products after forged changes: %v", got)
	}
}

func TestConsoleCrossOriginChangeIsRefused(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	for _, h := range []map[string]string{{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}} {
		a := b.send("POST", "/products", url.Values{"name": {"Forged"}, "csrf": {b.csrf}}, h)
		if a.status != http.StatusForbidden {
			t.Errorf("%v: %d", h, a.status)
		}
	}
	if got := w.products(); len(got) != 1 {
		t.Errorf("products after cross-origin changes: %v", got)
	}
}

// inlineCode finds inline script or style, which the policy would block (and so must not be needed).
var inlineCode = regexp.MustCompile(`<script>|<script [^>]*>[^<]|\sstyle=|\son[a-z]+=|javascript:`)

func TestConsoleContentSecurityPolicyIsStrictOnEveryPage(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	pages := []string{"/login", "/", "/products", "/products/" + string(w.a.product.ID), "/devices", "/devices/" + string(w.a.device),
		"/devices/" + string(w.a.device) + "/revoke", "/images", "/deployments", "/errors", "/errors/events", "/audit",
		"/audit/verify", "/users", "/no-such-page"}
	for _, p := range pages {
		a := b.get(p)
		csp := a.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", p, csp)
		}
		if a.header.Get("X-Frame-Options") != "DENY" || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, a.header)
		}
		if m := inlineCode.FindString(a.body); m != "" {
			t.Errorf("%s holds inline code %q, which the policy blocks", p, m)
		}
		if p != "/no-such-page" && a.status != http.StatusOK {
			t.Errorf("%s: %d %s", p, a.status, a.body)
		}
	}
}

var changeForm = regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`)

func TestConsoleReaderSeesNoChangeButtons(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("readerA")
	for _, p := range []string{"/", "/products", "/products/" + string(w.a.product.ID), "/devices", "/devices/" + string(w.a.device),
		"/devices/" + string(w.a.device) + "/revoke", "/images", "/deployments", "/errors", "/audit"} {
		a := b.get(p)
		for _, m := range changeForm.FindAllStringSubmatch(a.body, -1) {
			if m[1] != "/logout" {
				t.Errorf("%s shows a Reader the change form %s", p, m[1])
			}
		}
		if strings.Contains(a.body, `/revoke"`) && !strings.HasSuffix(p, "/revoke") {
			t.Errorf("%s shows a Reader the revoke link", p)
		}
	}
	if a := b.get("/users"); a.status != http.StatusForbidden {
		t.Errorf("users page as Reader: %d", a.status)
	}
}

func TestConsoleReaderForgedChangeIsRefused(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("readerA")
	for path, form := range map[string]url.Values{
		"/products":                                  {"name": {"Forged"}},
		"/device-groups/" + string(w.a.group.ID):     {"os_feed": {api.FeedRetailEval}, "update_policy": {api.PolicyNone}},
		"/devices/" + string(w.a.device) + "/revoke": {"confirm": {"yes"}},
		"/users": {"email": {"x@example.com"}, "role": {"Administrator"}},
	} {
		if a := b.post(path, form); a.status != http.StatusForbidden {
			t.Errorf("POST %s as Reader (with a valid CSRF token): %d %s", path, a.status, a.body)
		}
	}
	if got := w.products(); len(got) != 1 {
		t.Errorf("products: %v", got)
	}
	if a := w.signIn("adminA").get("/devices/" + string(w.a.device)); strings.Contains(a.body, "revoked") {
		t.Error("a Reader revoked a device")
	}
}

func TestConsoleOtherTenantsObjectIs404(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminB")
	for _, p := range []string{"/products/" + string(w.a.product.ID), "/devices/" + string(w.a.device),
		"/devices/" + string(w.a.device) + "/revoke"} {
		if a := b.get(p); a.status != http.StatusNotFound {
			t.Errorf("GET %s as tenant B: %d", p, a.status)
		}
	}
	for path, form := range map[string]url.Values{
		"/device-groups/" + string(w.a.group.ID):     {"os_feed": {api.FeedRetailEval}, "update_policy": {api.PolicyNone}},
		"/devices/" + string(w.a.device) + "/revoke": {"confirm": {"yes"}},
	} {
		if a := b.post(path, form); a.status != http.StatusNotFound {
			t.Errorf("POST %s as tenant B: %d", path, a.status)
		}
	}
	for _, p := range []string{"/", "/devices", "/products"} {
		if a := b.get(p); strings.Contains(a.body, string(w.a.device)[:12]) || strings.Contains(a.body, "Toaster") {
			t.Errorf("%s as tenant B shows tenant A's objects", p)
		}
	}
}

func TestConsoleProductDescriptionScriptRendersAsText(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("contribA")
	evil := `<script>alert(1)</script>`
	if a := b.post("/products", url.Values{"name": {"Kettle"}, "description": {evil}}); a.status != http.StatusSeeOther {
		t.Fatalf("create product: %d %s", a.status, a.body)
	}
	for _, p := range []string{"/products", b.lastProduct()} {
		a := b.get(p)
		if strings.Contains(a.body, evil) {
			t.Errorf("%s renders user text as markup", p)
		}
		if !strings.Contains(a.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the description as text", p)
		}
	}
}

func (b *browser) lastProduct() string {
	var id ident.ProductID
	b.w.st.View(context.Background(), func(tx *store.Tx) error {
		ps, err := tx.Products(b.w.a.tenant.ID)
		for _, p := range ps {
			if p.Name != "Toaster" {
				id = p.ID
			}
		}
		return err
	})
	return "/products/" + string(id)
}

func TestConsoleChangesAreAuditedAsTheUser(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	b.get("/products/" + string(w.a.product.ID))
	if a := b.post("/device-groups/"+string(w.a.group.ID), url.Values{"os_feed": {api.FeedRetailEval}, "update_policy": {api.PolicyNone},
		"allow_crash_dumps": {"on"}}); a.status != http.StatusSeeOther {
		t.Fatalf("update group: %d %s", a.status, a.body)
	}
	var entries []api.AuditEntry
	w.st.View(context.Background(), func(tx *store.Tx) (err error) {
		entries, err = tx.Audit(w.a.tenant.ID, 0, 100)
		return err
	})
	var found bool
	for _, e := range entries {
		if strings.HasPrefix(e.Action, "device-group.") && e.Actor == w.users["adminA"] && e.Source == "192.0.2.7" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry of the group change by %s from 192.0.2.7: %+v", w.users["adminA"], entries)
	}
	a := b.get("/products/" + string(w.a.product.ID))
	if !strings.Contains(a.body, "updated") || !strings.Contains(a.body, `<option selected>RetailEval</option>`) {
		t.Errorf("product page after the change: %s", a.body)
	}
}

func TestConsoleRevokeNeedsConfirmation(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	b.get("/devices/" + string(w.a.device) + "/revoke")
	if a := b.post("/devices/"+string(w.a.device)+"/revoke", nil); a.status != http.StatusBadRequest {
		t.Errorf("revoke without confirmation: %d", a.status)
	}
	if a := b.post("/devices/"+string(w.a.device)+"/revoke", url.Values{"confirm": {"yes"}}); a.status != http.StatusSeeOther {
		t.Errorf("revoke: %d %s", a.status, a.body)
	}
	if a := b.get("/devices/" + string(w.a.device)); !strings.Contains(a.body, "revoked since") {
		t.Errorf("device page after revocation: %s", a.body)
	}
}

func TestConsoleSignOutEndsTheSession(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("adminA")
	old := *b.cookies["__Host-rampart-session"]
	if a := b.post("/logout", nil); a.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", a.status)
	}
	b.cookies["__Host-rampart-session"] = &old
	if a := b.get("/"); a.status != http.StatusSeeOther {
		t.Errorf("the old session cookie still works: %d", a.status)
	}
}

func TestConsoleErrorCSVDownload(t *testing.T) {
	w := newWorld(t)
	a := w.signIn("readerA").get("/errors.csv?since=7d")
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(a.body, strings.Join(api.ErrorCSVHeader, ",")+"\n") {
		t.Errorf("CSV: %d %v %q", a.status, a.header, a.body)
	}
}

func TestConsoleDeviceFilters(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("readerA")
	short := string(w.a.device)[:12]
	for q, listed := range map[string]bool{
		"": true, "?attestation=never": true, "?attestation=pass": false, "?group=" + string(w.a.group.ID): true,
		"?seen=unseen:7d": true, "?seen=seen:24h": false, "?search=" + string(w.a.device)[:6]: true, "?search=ffffff" + strings.Repeat("f", 10): false,
	} {
		a := b.get("/devices" + q)
		if a.status != http.StatusOK || strings.Contains(a.body, short) != listed {
			t.Errorf("/devices%s: %d, device listed %v, want %v", q, a.status, !listed, listed)
		}
	}
	if a := b.get("/devices?search=" + string(w.a.device)); a.status != http.StatusSeeOther {
		t.Errorf("search by full ID: %d, want a redirect to the device", a.status)
	}
}

// FuzzConsoleChangeForms posts arbitrary form bodies, with a valid session and CSRF token, to
// every change the console makes: each is refused with a 4xx or done, never a 5xx or a panic.
func FuzzConsoleChangeForms(f *testing.F) {
	w := newWorld(f)
	b := w.signIn("adminA")
	paths := []string{"/products", "/device-groups/" + string(w.a.group.ID), "/devices/claim", "/products/" + string(w.a.product.ID) + "/device-groups",
		"/devices/" + string(w.a.device) + "/revoke", "/deployments", "/users", "/users/nobody/remove"}
	for i := range paths {
		f.Add(uint8(i), "name=Kettle&description=%3Cscript%3E")
	}
	f.Add(uint8(1), "os_feed=Retail&update_policy=NoUpdates&allow_crash_dumps=on")
	f.Add(uint8(2), "device_id=00&claim_code=x&group=y")
	f.Add(uint8(4), "group=x&image=a&image=b")
	f.Add(uint8(5), "email=a%40b&role=Root&expires_in=-1d")
	f.Add(uint8(0), "name=%ff%fe&description="+strings.Repeat("x", 600))
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		form.Set("csrf", b.csrf)
		fw := *w
		fw.t = t
		fb := &browser{w: &fw, cookies: map[string]*http.Cookie{}, csrf: b.csrf}
		for k, c := range b.cookies {
			fb.cookies[k] = c
		}
		a := fb.send("POST", paths[int(route)%len(paths)], form, nil)
		if a.status >= 500 {
			t.Errorf("POST %s %q: %d %s", paths[int(route)%len(paths)], body, a.status, a.body)
		}
	})
}

func TestConsoleStaticAssetsServedWithoutListing(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	for path, want := range map[string]int{"/static/console.css": 200, "/static/console.js": 200, "/static/": 303, "/static/nothing.js": 404} {
		if a := b.get(path); a.status != want {
			t.Errorf("GET %s: %d, want %d", path, a.status, want)
		}
	}
}

func TestConsoleCreatesDeviceGroup(t *testing.T) {
	w := newWorld(t)
	b := w.signIn("contribA")
	b.get("/products/" + string(w.a.product.ID))
	a := b.post("/products/"+string(w.a.product.ID)+"/device-groups", url.Values{"name": {"Beta"}, "os_feed": {api.FeedRetailEval},
		"update_policy": {api.PolicyNone}, "allow_crash_dumps": {"on"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("create group: %d %s", a.status, a.body)
	}
	if a := b.get("/products/" + string(w.a.product.ID)); !strings.Contains(a.body, "Device group Toaster/Beta created.") {
		t.Errorf("product page after creating a group: %s", a.body)
	}
	if a := w.signIn("adminB").post("/products/"+string(w.a.product.ID)+"/device-groups", url.Values{"name": {"Gamma"}}); a.status != http.StatusNotFound {
		t.Errorf("create a group in another tenant's product: %d", a.status)
	}
}

// TestConsoleDevicePagingFollowsCursor: the device list reads one page of the store's cursor at
// a time and its Next link leads through every device once.
func TestConsoleDevicePagingFollowsCursor(t *testing.T) {
	w := newWorld(t)
	var ids []ident.DeviceID
	for i := range 120 {
		ids = append(ids, ident.DeviceIDFromPublicKey(fmt.Appendf(nil, "paged-%d", i)))
	}
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := tx.ClaimDevices(w.a.tenant.ID, ids, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := w.signIn("readerA")
	next := regexp.MustCompile(`<a rel="next" href="([^"]+)"`)
	row := regexp.MustCompile(`href="/devices/([0-9a-f]{64})"`)
	seen := map[string]int{}
	path, pages := "/devices", 0
	for ; path != "" && pages < 10; pages++ {
		a := b.get(path)
		for _, m := range row.FindAllStringSubmatch(a.body, -1) {
			seen[m[1]]++
		}
		path = ""
		if m := next.FindStringSubmatch(a.body); m != nil {
			path = "/devices" + strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if pages != 3 || len(seen) != 121 {
		t.Errorf("%d pages, %d devices; want 3 pages of the 121 devices", pages, len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("device %s listed %d times", id, n)
		}
	}
}
