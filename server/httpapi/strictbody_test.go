package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
)

// refusedBody sends body to POST /products and checks it is refused with want, creating
// nothing and writing no audit entry.
func refusedBody(t *testing.T, w *world, name, body, want string) {
	t.Helper()
	status, resp := w.do(adminA, "POST", "/api/v1/products", body)
	if status != http.StatusBadRequest || !strings.Contains(resp, want) {
		t.Errorf("%s: %d %s, want 400 with %q", name, status, resp, want)
	}
	_, list := w.do(readerA, "GET", "/api/v1/products", nil)
	if ps := decodeAs[[]api.Product](t, list); len(ps) != 2 { // the fixture's two
		t.Fatalf("%s: a refused body created a product: %s", name, list)
	}
}

// TestDuplicateKeyDifferingInCaseRefused: encoding/json matches "Name" to the field name, so
// {"name":"a","Name":"b"} would create "b" while a proxy or an auditor reading the first key
// saw "a".
func TestDuplicateKeyDifferingInCaseRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	refusedBody(t, w, "top level", `{"name":"Shown","Name":"Created"}`, "differ only in case")
	refusedBody(t, w, "upper case", `{"name":"Shown","description":"d","NAME":"Created"}`, "differ only in case")
	refusedBody(t, w, "only another case", `{"Name":"Created"}`, `unknown field \"Name\"`)
}

func TestDeepJSONRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	refusedBody(t, w, "33 levels", strings.Repeat("[", 33)+strings.Repeat("]", 33), "nested more than 32 levels")
	refusedBody(t, w, "100000 levels", strings.Repeat("[", 100000), "nested more than 32 levels")
}

func TestTrailingDataRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	refusedBody(t, w, "second object", `{"name":"T1"} {"name":"T2"}`, "trailing data")
	refusedBody(t, w, "junk", `{"name":"T3"}junk`, "trailing data")
}

// TestJSONRouteWrongContentTypeGets415: a JSON body sent as a form or as text — what a page on
// another origin can make a browser send without asking first — is refused before it is read.
func TestJSONRouteWrongContentTypeGets415(t *testing.T) {
	w := newWorld(t, "sqlite")
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"application/json; charset=latin1", "application/json-seq", "application/jsonx"} {
		req := httptest.NewRequest("POST", "/api/v1/products", strings.NewReader(`{"name":"CT"}`))
		req.Header.Set("Authorization", "Bearer "+w.tokens[adminA])
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "application/json") {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, rec.Code, rec.Body)
		}
	}
	if status, _ := w.do(readerA, "GET", "/api/v1/products/CT", nil); status != http.StatusNotFound {
		t.Fatal("a body with the wrong Content-Type created a product")
	}
	for i, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; charset=\"UTF-8\""} {
		req := httptest.NewRequest("POST", "/api/v1/products", strings.NewReader(fmt.Sprintf(`{"name":"CT%d"}`, i)))
		req.Header.Set("Authorization", "Bearer "+w.tokens[adminA])
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Errorf("Content-Type %q: %d %s, want 201", ct, rec.Code, rec.Body)
		}
	}
}
