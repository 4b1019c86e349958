package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/format/safetext"
)

// hostile is text a compromised device sends: a terminal escape that clears the screen and
// recolours it, a bidirectional override that shows "exe.txt" for "txt.exe", a zero-width space
// and a C1 control.
const hostile = "ok \x1b[2J\x1b[32mALL GOOD\x1b[0m invoice\u202etxt.exe ad\u200bmin \u009b31m"

// TestDeviceTextEscapedInAuditAndReport: what a device says reaches the audit log and the error
// report escaped, never as characters a terminal or a browser would act on.
func TestDeviceTextEscapedInAuditAndReport(t *testing.T) {
	w, _, d := eventWorld(t, "sqlite")
	rep := reportJSON(t, api.UpdateReport{Result: api.UpdateFailed, Message: hostile + "\nsecond line"})
	if status, body := post(t, d.c, d.url+api.DevicePathUpdateReport, rep); status != http.StatusNoContent {
		t.Fatalf("report: %d %s", status, body)
	}
	e := newEvent(hostile)
	e.Detail = "trace:\n\t" + hostile
	d.accept(t, batch(e))

	wantLine := `ok \x1b[2J\x1b[32mALL GOOD\x1b[0m invoice\u202etxt.exe ad\u200bmin \u009b31m`
	audit := updateAudit(t, w, readerA)
	if len(audit) != 1 || !strings.Contains(audit[0], "failed: "+wantLine+" second line") {
		t.Errorf("audit entry: %q\nwant it to contain %q", audit, wantLine)
	}
	es := errorsReport(t, w, readerA, "")
	if len(es) != 1 || es[0].Description != wantLine {
		t.Fatalf("error report: %+v\nwant description %q", es, wantLine)
	}
	for _, s := range append(audit, es[0].Description, es[0].Detail) {
		if err := safetext.Check(strings.NewReplacer("\n", "", "\t", "").Replace(s)); err != nil {
			t.Errorf("unsafe text reached the service's answers: %v in %q", err, s)
		}
	}
	_, body := w.do(readerA, "GET", "/api/v1/devices/"+string(d.id), nil)
	if u := decodeAs[api.Device](t, body).Updates; u == nil || safetext.Check(u.LastUpdateMsg) != nil {
		t.Errorf("the device's last update message is not escaped: %+v", u)
	}
}

// TestUpdateReportFloodGets429: a device that sends failed update reports without end (each an
// audit entry) is answered 429 with Retry-After once it has sent its burst, and the audit log
// stops growing; successes, and other devices, are not held back.
func TestUpdateReportFloodGets429(t *testing.T) {
	w, srv, d := eventWorld(t, "sqlite")
	failed := reportJSON(t, api.UpdateReport{Result: api.UpdateFailed, Message: "disk full"})
	refused := 0
	for i := 0; i < 40; i++ {
		resp, err := d.c.Post(d.url+api.DevicePathUpdateReport, "application/json", strings.NewReader(failed))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNoContent:
		case http.StatusTooManyRequests:
			refused++
			if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 {
				t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("report %d: %d", i, resp.StatusCode)
		}
	}
	if refused == 0 {
		t.Fatal("40 failed reports in a row were all accepted")
	}
	if n := len(updateAudit(t, w, readerA)); n != 40-refused || n > 20 {
		t.Errorf("%d audit entries after %d refusals", n, refused)
	}
	ok := reportJSON(t, api.UpdateReport{Result: api.UpdateOK})
	if status, body := post(t, d.c, d.url+api.DevicePathUpdateReport, ok); status != http.StatusNoContent {
		t.Errorf("a success after the flood: %d %s", status, body)
	}
	other := neighbour(t, w, srv, 7)
	if status, body := post(t, other.c, other.url+api.DevicePathUpdateReport, failed); status != http.StatusNoContent {
		t.Errorf("another device's failure: %d %s", status, body)
	}
}

// TestBidiOverrideInNameRefused: a product, a group or a description that shows as another
// text than it is ("Prod\u202eX" reads "ProdX" reversed) is refused, as is an e-mail address
// with a zero-width character in it.
func TestBidiOverrideInNameRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	for name, body := range map[string]string{
		"bidi in name":          `{"name":"Prod\u202eX"}`,
		"isolate in name":       `{"name":"Prod\u2066X\u2069"}`,
		"zero width in name":    `{"name":"Pro\u200bd"}`,
		"bidi in description":   `{"name":"Fine","description":"ok \u202e evil"}`,
		"escape in description": `{"name":"Fine","description":"\u001b[2J"}`,
		"C1 in description":     `{"name":"Fine","description":"\u009b2J"}`,
	} {
		if status, resp := w.do(adminA, "POST", "/api/v1/products", body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, status, resp)
		}
	}
	if status, _ := w.do(readerA, "GET", "/api/v1/products/Fine", nil); status != http.StatusNotFound {
		t.Error("a refused product was created")
	}
}

func TestZeroWidthInEmailRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	for _, email := range []string{"ad\u200bmin@example.com", "admin\u2060@example.com", "ad\u202emin@example.com", "\ufeffadmin@example.com"} {
		status, resp := w.do(adminA, "POST", "/api/v1/users", api.AddUserRequest{Email: email, Role: api.RoleReader})
		if status != http.StatusBadRequest || !strings.Contains(resp, "invalid email") {
			t.Errorf("%q: %d %s, want 400", email, status, resp)
		}
	}
}
