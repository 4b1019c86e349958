package console_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/client"
	"github.com/rampart-iot/rampart/internal/devserver"
	"github.com/rampart-iot/rampart/internal/sim"
)

// ArtifactsEnv names the folder where the browser test writes its screenshots; without it they
// go to a new temporary folder, which the test names in its log.
const ArtifactsEnv = "RAMPART_TEST_ARTIFACTS"

// chromiumPath is Debian's Chromium, which scripts/test-services installs.
const chromiumPath = "/usr/bin/chromium"

// devService runs `rampart server --dev` in a temporary folder on loopback and returns its
// URL, the dev Administrator's token and its CA.
func devService(t *testing.T) (string, string, []byte) {
	t.Helper()
	s := devserver.Start(t)
	return s.URL, s.Token, s.CA
}

// serverSPKI is the base64 SHA-256 of the service's TLS key, the one certificate Chromium is
// told to accept without its CA (Chromium reads no CA file).
func serverSPKI(t *testing.T, serverURL string, ca []byte) string {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	u, _ := url.Parse(serverURL)
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS to the service: %v", err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "rampart-console-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// tab is a Chromium tab on the service.
type tab struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
}

func newBrowser(t *testing.T, base, spki string) *tab {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing at %s: the console's browser tests need it; scripts/test-services installs it (apt-get install chromium)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors-spki-list", spki), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: base}
}

// do runs steps with a time limit, failing the test with what.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// open loads a page and returns its heading.
func (b *tab) open(path string) string {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("h1")))
	return eval[string](b, `document.querySelector("h1").textContent`)
}

func (b *tab) text() string { return eval[string](b, `document.body.innerText`) }

// submit fills a form's fields, submits it and waits for the page it leads to.
func (b *tab) submit(form string, fields map[string]string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(form+" "+sel), v))
	}
	// The old document is marked; the next one, once loaded, is not.
	eval[bool](b, `window.__old = true`)
	steps = append(steps, chromedp.Click(chromedp.CSS(form+" button[type=submit]")))
	b.do("submit "+form, steps...)
	b.waitNewPage("submit " + form)
}

// waitNewPage waits until the page that the last action led to has loaded.
func (b *tab) waitNewPage(what string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__old === undefined && document.readyState === "complete"`))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("%s: the next page did not load", what)
}

func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/login")
	b.submit(`form[action="/login"]`, map[string]string{"#token": token})
	if h := eval[string](b, `document.querySelector("h1")?.textContent ?? ""`); h != "Overview" {
		b.t.Fatalf("after sign-in: %q: %s", h, b.text())
	}
}

func (b *tab) signOut() {
	b.t.Helper()
	b.submit(`form[action="/logout"]`, nil)
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s: %q not shown in:\n%s", what, w, text)
		}
	}
}

// TestConsoleInChromium drives the console in Debian's Chromium against the real service over
// TLS: sign in, create a product, claim a simulated device and see it attest, change a group
// setting, see a deployment, download the error CSV; a Reader sees no change buttons and its
// forged change is refused; a description holding <script> renders as text; another tenant's
// object is 404. It screenshots every page.
func TestConsoleInChromium(t *testing.T) {
	base, adminToken, ca := devService(t)
	ctx := context.Background()
	// A small simulated fleet: claimed, attested, checked in, an error event each, an image
	// deployed to its group.
	cfg := sim.Config{Server: base, Token: adminToken, CAPEM: ca, Devices: 2, Concurrency: 2, Scenario: "all",
		Seed: sim.Seed(t.Name()), ImageSize: 4096}
	if _, err := sim.Run(ctx, cfg); err != nil {
		t.Fatalf("simulated fleet: %v", err)
	}
	b := newBrowser(t, base, serverSPKI(t, base, ca))
	b.shots = artifacts(t)

	b.open("/")
	b.shot("login")
	b.signIn(adminToken)

	// Create a product whose description would be a script if it were not escaped.
	b.open("/products")
	b.submit(`form[action="/products"]`, map[string]string{"#name": "Kettle", "#description": `<script>alert("xss")</script>`})
	mustContain(t, "new product", b.text(), "Product Kettle created", `<script>alert("xss")</script>`)
	if n := eval[int](b, `document.querySelectorAll("main script").length`); n != 0 {
		t.Errorf("the product page holds %d script elements from user text", n)
	}
	b.shot("product")
	// console.js, allowed by the policy, showed the times in the browser's zone (UTC stays in
	// the title).
	b.open("/products")
	if !eval[bool](b, `[...document.querySelectorAll("main time")].every(t => t.title.endsWith("UTC") && !t.textContent.endsWith("UTC"))`) {
		t.Errorf("times not localised: %s", eval[string](b, `document.querySelector("main time")?.outerHTML ?? "no time"`))
	}
	// The keyboard reaches the skip link first, and it leads to the content.
	b.do("tab to the skip link", chromedp.KeyEvent("\t"))
	if cls := eval[string](b, `document.activeElement.className`); cls != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", cls)
	}

	// Claim a device with its claim code into the simulator's group, and see it appear.
	d := sim.DeviceOf(cfg.Seed, 2)
	b.open("/devices")
	group := eval[string](b, fmt.Sprintf(`[...document.querySelectorAll("#claim_group option")].find(o => o.textContent === %q).value`,
		sim.ProductName+"/"+sim.GroupName))
	b.submit(`form[action="/devices/claim"]`, map[string]string{"#device_id": d.ID().String(), "#claim_code": d.ClaimCode().String(),
		"#claim_group": group})
	mustContain(t, "claimed device", b.text(), "Device claimed into "+sim.ProductName+"/"+sim.GroupName, d.ID().String(), "never attested")
	// The device attests (the simulator runs its side), and the console shows it passing.
	cfg.Devices, cfg.Scenario = 3, "attest"
	if _, err := sim.Run(ctx, cfg); err != nil {
		t.Fatalf("attest: %v", err)
	}
	b.open("/devices/" + d.ID().String())
	mustContain(t, "device page", b.text(), "passed")
	b.shot("device")
	b.open("/devices?group=" + group)
	mustContain(t, "device list", b.text(), d.ID().String()[:12])
	b.shot("devices")

	// Change a group setting.
	b.open("/products/" + productID(t, base, adminToken, ca, sim.ProductName))
	b.do("choose the feed", chromedp.SetValue(chromedp.CSS(`form[action="/device-groups/`+group+`"] select[name=os_feed]`), api.FeedRetailEval))
	b.submit(`form[action="/device-groups/`+group+`"]`, nil)
	mustContain(t, "group change", b.text(), "Device group "+sim.ProductName+"/"+sim.GroupName+" updated")
	if feed := eval[string](b, `document.querySelector('form[action="/device-groups/`+group+`"] select[name=os_feed]').value`); feed != api.FeedRetailEval {
		t.Errorf("the group's OS feed is %q after the change, want %s", feed, api.FeedRetailEval)
	}
	b.shot("product-groups")

	// The overview counts the fleet.
	b.open("/")
	mustContain(t, "overview", b.text(), "3\ndevices", "Devices by group", "Runtime versions", "Failures over the last 14 days")
	b.shot("overview")
	b.dark(true)
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark scheme: body background %s", bg)
	}
	b.shot("overview-dark")
	b.dark(false)

	// Watch the deployment's progress: the claimed device has attested but not checked in, so
	// 2 of 3 have updated; when it checks in, the open page follows without a reload.
	b.open("/deployments")
	mustContain(t, "deployments", b.text(), sim.ProductName+"/"+sim.GroupName, "2 of 3 devices updated")
	b.shot("deployments")
	eval[bool](b, `window.__old = true`)
	cfg.Scenario = "checkin"
	if _, err := sim.Run(ctx, cfg); err != nil {
		t.Fatalf("check in: %v", err)
	}
	b.waitText("3 of 3 devices updated", 40*time.Second)
	if !eval[bool](b, `window.__old === true`) {
		t.Error("the deployments page was reloaded, not updated in place")
	}
	b.shot("deployments-progress")
	b.open("/images")
	b.shot("images")

	// The error report, and its CSV download.
	b.open("/errors")
	b.shot("errors")
	csv := b.download(`a[href^="/errors.csv"]`)
	if !strings.HasPrefix(csv, strings.Join(api.ErrorCSVHeader, ",")) || strings.Count(csv, "\n") < 2 {
		t.Errorf("error CSV: %q", csv)
	}
	b.open("/errors/events")
	b.shot("error-events")

	b.open("/audit")
	mustContain(t, "audit", b.text(), "product.create", "device.claim")
	b.shot("audit")
	b.open("/audit/verify")
	mustContain(t, "audit verify", b.text(), "Audit log intact")
	b.shot("audit-verify")

	// An Administrator adds a Reader; the Reader sees no change buttons.
	b.open("/users")
	b.submit(`form[action="/users"]`, map[string]string{"#email": "reader@dev.local", "#role": "Reader"})
	readerToken := eval[string](b, `document.querySelector("code.token").textContent`)
	b.shot("users")
	b.open("/devices/" + d.ID().String() + "/revoke")
	b.shot("revoke")
	b.signOut()

	b.signIn(readerToken)
	for _, p := range []string{"/", "/products", "/products/" + productID(t, base, adminToken, ca, sim.ProductName), "/devices",
		"/devices/" + d.ID().String(), "/deployments", "/errors", "/audit"} {
		b.open(p)
		if n := eval[int](b, `document.querySelectorAll('form[method=post]:not([action="/logout"]), a[href$="/revoke"]').length`); n != 0 {
			t.Errorf("%s shows a Reader %d change forms or buttons", p, n)
		}
	}
	b.open("/products")
	b.shot("products-reader")
	// A Reader's forged change, with its own valid CSRF token, is refused by the API's rules.
	status := eval[int](b, `fetch("/products", {method: "POST", body: new URLSearchParams({name: "Forged",
		csrf: document.querySelector('input[name=csrf]').value})}).then(r => r.status)`)
	if status != 403 {
		t.Errorf("a Reader's forged POST /products: %d, want 403", status)
	}
	status = eval[int](b, `fetch("/products", {method: "POST", body: new URLSearchParams({name: "Forged"})}).then(r => r.status)`)
	if status != 403 {
		t.Errorf("a POST without the CSRF token: %d, want 403", status)
	}
	b.signOut()

	// Another tenant's Administrator gets 404 for this tenant's device. (With --dev, the dev
	// Administrator is also the operator, who makes tenants.)
	opc, err := client.New(base, adminToken, ca)
	if err != nil {
		t.Fatal(err)
	}
	other, err := opc.CreateTenant(ctx, api.CreateTenantRequest{Name: "other", AdminEmail: "admin@other.example"})
	if err != nil {
		t.Fatal(err)
	}
	b.signIn(other.Token)
	if h := b.open("/devices/" + d.ID().String()); h != "Not Found" {
		t.Errorf("another tenant's device: %q, want Not Found", h)
	}
	b.shot("other-tenant-404")
	b.do("narrow screen", chromedp.EmulateViewport(390, 844))
	b.signOut()
	b.signIn(adminToken)
	b.shot("overview-narrow")
}

// waitText waits until the page shows text, without navigating.
func (b *tab) waitText(text string, limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if strings.Contains(b.text(), text) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.t.Fatalf("%q not shown within %s:\n%s", text, limit, b.text())
}

// dark makes the page prefer the dark colour scheme, or the light one.
func (b *tab) dark(on bool) {
	b.t.Helper()
	scheme := "light"
	if on {
		scheme = "dark"
	}
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err != nil {
		b.t.Fatalf("emulate %s scheme: %v", scheme, err)
	}
}

// download clicks a download link and returns what was saved.
func (b *tab) download(link string) string {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	progress := chromedp.BrowserEvents(ctx, cdpbrowser.DownloadProgress)
	_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
	if err != nil {
		b.t.Fatalf("allow downloads: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(link))); err != nil {
		b.t.Fatalf("click %s: %v", link, err)
	}
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download: %v", err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return string(data)
		}
	}
	b.t.Fatal("the download did not complete")
	return ""
}

func ptr[T any](v T) *T { return &v }

func productID(t *testing.T, base, token string, ca []byte, name string) string {
	t.Helper()
	c, err := client.New(base, token, ca)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Product(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(p.ID)
}
