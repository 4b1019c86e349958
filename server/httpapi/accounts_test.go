package httpapi_test

import (
	"context"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/auth"
	"github.com/rampart-iot/rampart/server/store"
)

// bearer sends a request with a raw token.
func (w *world) bearer(token, method, path string, body any) (int, string) {
	w.t.Helper()
	w.tokens["raw"] = token
	return w.do("raw", method, path, body)
}

// mint makes a token for a user of tenant A, created at created and valid for life.
func (w *world) mint(email string, created time.Time, life time.Duration) (store.Token, string) {
	w.t.Helper()
	var tok store.Token
	var secret string
	err := w.st.Update(context.Background(), func(tx *store.Tx) error {
		u, err := tx.User(w.a.tenant.ID, email)
		if err != nil {
			return err
		}
		tok, secret, err = auth.Mint(tx, u.ID, created.UTC().Truncate(time.Microsecond), life)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return tok, secret
}

func TestExpiredTokenRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		_, expired := w.mint("readerA@tenant-a", time.Now().Add(-2*time.Hour), time.Hour)
		status, body := w.bearer(expired, "GET", "/api/v1/whoami", nil)
		if status != http.StatusUnauthorized || !strings.Contains(body, "token expired on") ||
			!strings.Contains(body, "rampart token create") {
			t.Fatalf("expired token: %d %s; want 401 saying it expired and what to do", status, body)
		}
		_, valid := w.mint("readerA@tenant-a", time.Now(), time.Hour)
		if status, body := w.bearer(valid, "GET", "/api/v1/whoami", nil); status != http.StatusOK {
			t.Fatalf("token within its lifetime: %d %s", status, body)
		}
		// A lifetime is parsed strictly and bounded.
		for _, bad := range []string{"90", "1y", "-1d", "0d", "3651d", "1.5h", "99999999999d"} {
			status, body := w.do(readerA, "POST", "/api/v1/tokens", api.CreateTokenRequest{ExpiresIn: bad})
			if status != http.StatusBadRequest {
				t.Errorf("expires_in %q: %d %s, want 400", bad, status, body)
			}
		}
	})
}

func TestRevokedTokenRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(readerA, "POST", "/api/v1/tokens", api.CreateTokenRequest{ExpiresIn: "90d"})
		if status != http.StatusCreated {
			t.Fatalf("create token: %d %s", status, body)
		}
		made := decodeAs[api.CreateTokenResponse](t, body)
		if made.ExpiresAt == nil || time.Until(*made.ExpiresAt) < 89*24*time.Hour || !strings.HasPrefix(made.Secret, "rmp_") {
			t.Fatalf("made token %+v: want a secret and an expiry in 90 days", made)
		}
		if status, body := w.bearer(made.Secret, "GET", "/api/v1/whoami", nil); status != http.StatusOK {
			t.Fatalf("new token: %d %s", status, body)
		}
		// Listed, with its last use, never with its secret.
		_, body = w.bearer(made.Secret, "GET", "/api/v1/tokens", nil)
		list := decodeAs[[]api.Token](t, body)
		if strings.Contains(body, made.Secret) || len(list) != 2 {
			t.Fatalf("token list %s: want the user's two tokens without secrets", body)
		}
		for _, tk := range list {
			if tk.ID == made.ID && (!tk.Current || tk.LastUsedAt == nil) {
				t.Errorf("listed %+v: want current, with a last use", tk)
			}
		}
		if status, body := w.do(readerA, "DELETE", "/api/v1/tokens/"+made.ID, nil); status != http.StatusOK {
			t.Fatalf("revoke own token: %d %s", status, body)
		}
		status, body = w.bearer(made.Secret, "GET", "/api/v1/whoami", nil)
		if status != http.StatusUnauthorized || !strings.Contains(body, "token was revoked on") {
			t.Fatalf("revoked token: %d %s; want 401 saying it was revoked", status, body)
		}
		// Every change of tokens is audited.
		_, body = w.do(adminA, "GET", "/api/v1/audit", nil)
		for _, action := range []string{"token.create", "token.revoke"} {
			if !strings.Contains(body, `"action":"`+action+`"`) || !strings.Contains(body, "token/"+made.ID) {
				t.Errorf("audit log lacks %s of token %s", action, made.ID)
			}
		}
	})
}

func TestTokenOfAnotherTenantCannotBeRevoked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		tok, secret := w.mint("contributorA@tenant-a", time.Now(), 0)
		for _, p := range []string{adminB, readerA} { // another tenant; another user, not Administrator
			status, body := w.do(p, "DELETE", "/api/v1/tokens/"+tok.ID, nil)
			if status != http.StatusNotFound || strings.Contains(body, "contributorA") {
				t.Errorf("%s revokes contributorA's token: %d %s, want 404 naming no one", p, status, body)
			}
		}
		if status, body := w.do(adminB, "GET", "/api/v1/tokens?user=contributorA@tenant-a", nil); status != http.StatusNotFound {
			t.Errorf("adminB lists contributorA's tokens: %d %s, want 404", status, body)
		}
		if status, body := w.do(readerA, "GET", "/api/v1/tokens?user=contributorA@tenant-a", nil); status != http.StatusForbidden {
			t.Errorf("readerA lists contributorA's tokens: %d %s, want 403", status, body)
		}
		if status, body := w.do(adminB, "POST", "/api/v1/tokens", api.CreateTokenRequest{User: "contributorA@tenant-a"}); status != http.StatusNotFound {
			t.Errorf("adminB makes a token for contributorA: %d %s, want 404", status, body)
		}
		if status, body := w.bearer(secret, "GET", "/api/v1/whoami", nil); status != http.StatusOK {
			t.Fatalf("the token survives: %d %s", status, body)
		}
		// Its own tenant's Administrator may revoke it.
		if status, body := w.do(adminA, "DELETE", "/api/v1/tokens/"+tok.ID, nil); status != http.StatusOK {
			t.Fatalf("adminA revokes it: %d %s", status, body)
		}
		if status, _ := w.bearer(secret, "GET", "/api/v1/whoami", nil); status != http.StatusUnauthorized {
			t.Fatalf("revoked by the Administrator: %d, want 401", status)
		}
	})
}

func TestTenantUserCannotReadOperatorAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(operator, "POST", "/api/v1/tenants", api.CreateTenantRequest{Name: "secret-co", AdminEmail: "boss@secret-co"})
		if status != http.StatusCreated {
			t.Fatalf("create tenant: %d %s", status, body)
		}
		_, body = w.do(operator, "GET", "/api/v1/operator/audit", nil)
		if !strings.Contains(body, `"action":"tenant.create"`) || !strings.Contains(body, "secret-co") {
			t.Fatalf("operator's audit log: %s; want the tenant's creation", body)
		}
		for _, p := range []string{adminA, readerA, adminB} {
			for _, path := range []string{"/api/v1/operator/audit", "/api/v1/operator/audit/head", "/api/v1/operator/audit/checkpoints"} {
				if status, body := w.do(p, "GET", path, nil); status != http.StatusForbidden {
					t.Errorf("%s reads %s: %d %s, want 403", p, path, status, body)
				}
			}
			if _, body := w.do(p, "GET", "/api/v1/audit", nil); strings.Contains(body, "secret-co") {
				t.Errorf("%s's audit log shows the operator's entries: %s", p, body)
			}
		}
	})
}

func TestImageQuotaExceededRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		tenant := func() api.Tenant {
			_, body := w.do(adminA, "GET", "/api/v1/tenants/"+string(w.a.tenant.ID), nil)
			return decodeAs[api.Tenant](t, body)
		}
		before := tenant()
		if before.ImageBytes == 0 {
			t.Fatal("tenant A's image is not counted")
		}
		payload := strings.Repeat("x", 4096)
		// Refused before the payload is read: the declared payload alone does not fit; then
		// after it is stored: the payload fits, but the whole package does not.
		for i, quota := range []int64{before.ImageBytes + 4095, before.ImageBytes + 4096} {
			blobs := countFiles(t, w.blobDir)
			status, body := w.do(operator, "PATCH", "/api/v1/tenants/"+string(w.a.tenant.ID), map[string]any{"image_quota": quota})
			if status != http.StatusOK {
				t.Fatalf("set quota: %d %s", status, body)
			}
			pkg := app(payload).build(t, devKey(t))
			status, body = w.do(contribA, "POST", "/api/v1/images", pkg)
			if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "image quota") ||
				!strings.Contains(body, "ask the operator") {
				t.Fatalf("quota %d: upload %d %s; want 413 naming the quota and what to do", quota, status, body)
			}
			if i == 0 && countFiles(t, w.blobDir) != blobs {
				t.Fatal("an upload refused for its declared size was stored: refusals could fill the disk")
			}
			if after := tenant(); after.ImageBytes != before.ImageBytes {
				t.Fatalf("quota %d: %d bytes counted after a refused upload, want %d", quota, after.ImageBytes, before.ImageBytes)
			}
			_, body = w.do(contribA, "GET", "/api/v1/images?type=application", nil)
			if n := len(decodeAs[[]api.Image](t, body)); n != 1 {
				t.Fatalf("quota %d: %d images listed after a refused upload, want 1", quota, n)
			}
		}
		// Raised by the operator, it fits.
		w.do(operator, "PATCH", "/api/v1/tenants/"+string(w.a.tenant.ID), map[string]any{"image_quota": 0})
		if status, body := w.do(contribA, "POST", "/api/v1/images", app(payload).build(t, devKey(t))); status != http.StatusCreated {
			t.Fatalf("upload without a quota: %d %s", status, body)
		}
		// Only the operator sets quotas, and only sane ones.
		if status, _ := w.do(adminA, "PATCH", "/api/v1/tenants/"+string(w.a.tenant.ID), map[string]any{"image_quota": 0}); status != http.StatusForbidden {
			t.Errorf("an Administrator sets its own quota: %d, want 403", status)
		}
		for _, bad := range []string{`{"image_quota": -1}`, `{"image_quota": 1e300}`, `{}`} {
			if status, body := w.do(operator, "PATCH", "/api/v1/tenants/"+string(w.a.tenant.ID), bad); status != http.StatusBadRequest {
				t.Errorf("quota %s: %d %s, want 400", bad, status, body)
			}
		}
	})
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
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

// TestOperatorTokenOutOfTenantsReach: the operator manages its own tokens, in its own audit
// chain; no tenant's Administrator can see or revoke them.
func TestOperatorTokenOutOfTenantsReach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(operator, "POST", "/api/v1/tokens", api.CreateTokenRequest{ExpiresIn: "30d"})
		if status != http.StatusCreated {
			t.Fatalf("operator makes a token: %d %s", status, body)
		}
		made := decodeAs[api.CreateTokenResponse](t, body)
		_, body = w.do(operator, "GET", "/api/v1/tokens", nil)
		if list := decodeAs[[]api.Token](t, body); len(list) != 2 {
			t.Fatalf("operator's tokens: %s; want its two", body)
		}
		for _, p := range []string{adminA, adminB} {
			if status, _ := w.do(p, "DELETE", "/api/v1/tokens/"+made.ID, nil); status != http.StatusNotFound {
				t.Errorf("%s revokes the operator's token: %d, want 404", p, status)
			}
			if status, _ := w.do(p, "GET", "/api/v1/tokens?user=operator", nil); status != http.StatusNotFound {
				t.Errorf("%s lists the operator's tokens: %d, want 404", p, status)
			}
		}
		if status, body := w.do(operator, "DELETE", "/api/v1/tokens/"+made.ID, nil); status != http.StatusOK {
			t.Fatalf("operator revokes its token: %d %s", status, body)
		}
		if status, _ := w.bearer(made.Secret, "GET", "/api/v1/whoami", nil); status != http.StatusUnauthorized {
			t.Fatalf("revoked operator token: %d, want 401", status)
		}
		_, body = w.do(operator, "GET", "/api/v1/operator/audit", nil)
		if !strings.Contains(body, "token/"+made.ID) {
			t.Errorf("operator's audit log lacks its token changes: %s", body)
		}
		if _, body := w.do(adminA, "GET", "/api/v1/audit", nil); strings.Contains(body, made.ID) {
			t.Errorf("tenant A's audit log shows the operator's token: %s", body)
		}
	})
}

// accountCases are the role matrix's cases for the token, tenant-update and audit routes.
func accountCases(w *world) map[string]routeCase {
	a := w.a
	return map[string]routeCase{
		"PATCH /api/v1/tenants/{tenant}": {path: "/api/v1/tenants/" + string(a.tenant.ID), body: map[string]any{"image_quota": 1 << 30}, object: true},
		"GET /api/v1/tokens":             {path: "/api/v1/tokens"},
		"POST /api/v1/tokens":            {path: "/api/v1/tokens", body: api.CreateTokenRequest{ExpiresIn: "1d"}},
		// Another user's token is not found but to an Administrator of its tenant.
		"DELETE /api/v1/tokens/{token}": {path: "/api/v1/tokens/" + a.userTok, object: true,
			except: map[string]int{contribA: http.StatusNotFound, readerA: http.StatusNotFound, operator: http.StatusNotFound}},
		"GET /api/v1/audit/head":                 {path: "/api/v1/audit/head"},
		"GET /api/v1/audit/checkpoints":          {path: "/api/v1/audit/checkpoints"},
		"GET /api/v1/audit/checkpoint-key":       {path: "/api/v1/audit/checkpoint-key"},
		"GET /api/v1/operator/audit":             {path: "/api/v1/operator/audit"},
		"GET /api/v1/operator/audit/head":        {path: "/api/v1/operator/audit/head"},
		"GET /api/v1/operator/audit/checkpoints": {path: "/api/v1/operator/audit/checkpoints"},
	}
}
