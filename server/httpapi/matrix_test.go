package httpapi_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// routeCase builds a request of one route against tenant A's objects.
type routeCase struct {
	path string
	body any
	// object: the route names one of A's objects (in its path or body), so tenant B's
	// Administrator must get 404 for it.
	object bool
	// except overrides the expected status class for some principals.
	except map[string]int
	// open: the status an open route gives whoever sends this request.
	open int
}

func cases(w *world) map[string]routeCase {
	a := w.a
	dev := string(a.device)
	all := map[string]routeCase{
		"GET /api/v1/whoami":                        {path: "/api/v1/whoami"},
		"POST /api/v1/tenants":                      {path: "/api/v1/tenants", body: api.CreateTenantRequest{Name: "new", AdminEmail: "x@new"}},
		"GET /api/v1/tenants":                       {path: "/api/v1/tenants"},
		"GET /api/v1/tenants/{tenant}":              {path: "/api/v1/tenants/" + string(a.tenant.ID), object: true},
		"GET /api/v1/users":                         {path: "/api/v1/users"},
		"POST /api/v1/users":                        {path: "/api/v1/users", body: api.AddUserRequest{Email: "new@x", Role: api.RoleReader}},
		"DELETE /api/v1/users/{user}":               {path: "/api/v1/users/" + a.user.ID, object: true},
		"GET /api/v1/products":                      {path: "/api/v1/products"},
		"POST /api/v1/products":                     {path: "/api/v1/products", body: api.CreateProductRequest{Name: "Kettle"}},
		"GET /api/v1/products/{product}":            {path: "/api/v1/products/" + string(a.product.ID), object: true},
		"DELETE /api/v1/products/{product}":         {path: "/api/v1/products/" + string(a.spare.ID), object: true},
		"GET /api/v1/device-groups":                 {path: "/api/v1/device-groups"},
		"POST /api/v1/device-groups":                {path: "/api/v1/device-groups", body: api.CreateDeviceGroupRequest{Product: string(a.product.ID), Name: "Beta"}, object: true},
		"GET /api/v1/device-groups/{group}":         {path: "/api/v1/device-groups/" + string(a.group.ID), object: true},
		"PATCH /api/v1/device-groups/{group}":       {path: "/api/v1/device-groups/" + string(a.group.ID), body: map[string]any{"allow_crash_dumps": true}, object: true},
		"DELETE /api/v1/device-groups/{group}":      {path: "/api/v1/device-groups/" + string(a.empty.ID), object: true},
		"POST /api/v1/device-groups/{group}/notify": {path: "/api/v1/device-groups/" + string(a.group.ID) + "/notify", body: struct{}{}, object: true},
		"POST /api/v1/devices/claim":                {path: "/api/v1/devices/claim", body: claimBody(deviceID(99), "00000-00000-00000-0000"+zeroCheck)},
		"GET /api/v1/devices":                       {path: "/api/v1/devices"},
		"GET /api/v1/devices/{device}":              {path: "/api/v1/devices/" + dev, object: true},
		"PATCH /api/v1/devices/{device}":            {path: "/api/v1/devices/" + dev, body: map[string]any{"device_group_id": a.empty.ID}, object: true},
		"POST /api/v1/devices/{device}/revoke":      {path: "/api/v1/devices/" + dev + "/revoke", object: true},
		"POST /api/v1/devices/{device}/release":     {path: "/api/v1/devices/" + dev + "/release", object: true},
		"GET /api/v1/ca/crl":                        {path: "/api/v1/ca/crl"},
		"POST /api/v1/os/releases/withdraw":         {path: "/api/v1/os/releases/withdraw", body: withdrawable(w)},
		"POST /api/v1/devices/{device}/enable-development": {path: "/api/v1/devices/" + dev + "/enable-development",
			body: api.EnableDevelopmentRequest{DeveloperKeys: []string{developerKeyPEM(w.t)}}, object: true},
		"POST /api/v1/devices/{device}/disable-development": {path: "/api/v1/devices/" + dev + "/disable-development", object: true},
		"GET /api/v1/audit":                    {path: "/api/v1/audit"},
		"GET /api/v1/ca":                       {path: "/api/v1/ca"},
		"GET /api/v1/ca/bundle":                {path: "/api/v1/ca/bundle"},
		"POST /api/v1/ca/rotate":               {path: "/api/v1/ca/rotate"},
		"POST /api/v1/images":                  {path: "/api/v1/images", body: app("matrix").build(w.t, devKey(w.t))},
		"GET /api/v1/images":                   {path: "/api/v1/images?component=" + string(a.image.ComponentID)},
		"GET /api/v1/images/{image}":           {path: "/api/v1/images/" + string(a.image.ID), object: true},
		"GET /api/v1/images/{image}/package":   {path: "/api/v1/images/" + string(a.image.ID) + "/package", object: true},
		"POST /api/v1/deployments":             {path: "/api/v1/deployments", body: api.CreateDeploymentRequest{DeviceGroupID: a.group.ID, ImageIDs: []ident.ImageID{a.image.ID}}, object: true},
		"GET /api/v1/deployments":              {path: "/api/v1/deployments"},
		"GET /api/v1/deployments/{deployment}": {path: "/api/v1/deployments/" + string(a.deploy.ID), object: true},
		// A's deployment has no waves: its Administrator is told there is no rollout to cancel.
		"POST /api/v1/deployments/{deployment}/{action}": {path: "/api/v1/deployments/" + string(a.deploy.ID) + "/cancel", object: true,
			except: map[string]int{adminA: http.StatusConflict}},
		"GET /api/v1/reports/errors":        {path: "/api/v1/reports/errors?since=7d&device=" + dev, object: true},
		"GET /api/v1/reports/summary":       {path: "/api/v1/reports/summary?device_group=" + string(a.group.ID), object: true},
		"GET /api/v1/reports/fleet":         {path: "/api/v1/reports/fleet"},
		"GET /api/v1/support/logs":          {path: "/api/v1/support/logs?since=1h"},
		"GET /api/v1/operator/support/logs": {path: "/api/v1/operator/support/logs?tenant=" + string(a.tenant.ID)},
		"POST /api/v1/os/releases":          {path: "/api/v1/os/releases?feed=Retail&version=1.0.0", body: "runtime bytes"},
		"GET /api/v1/os/releases":           {path: "/api/v1/os/releases"},
		"GET /metrics":                      {path: "/metrics"},
		"GET /crl/{tenant}/{file}":          {path: "/crl/" + string(a.tenant.ID) + "/" + ident.NewID() + ".crl", open: http.StatusNotFound},
		"POST /device/v1/nonce":             {path: api.DevicePathNonce, body: api.NonceRequest{DeviceID: a.device}, open: 200},
		"POST /device/v1/attest":            {path: api.DevicePathAttest, body: "not evidence", open: http.StatusUnsupportedMediaType},
		"GET /device/v1/runtime-keys":       {path: api.DevicePathRuntimeKeys, open: 200},
		"GET /device/v1/whoami":             {path: api.DevicePathWhoami},
		"GET /device/v1/updates":            {path: api.DevicePathUpdates},
		"POST /device/v1/update-report":     {path: api.DevicePathUpdateReport, body: api.UpdateReport{Result: api.UpdateOK}},
		"GET /device/v1/tuf/{path...}":      {path: api.DevicePathTUF + "group-x/timestamp.json"},
		"GET /device/v1/capability":         {path: api.DevicePathCapability},
		"POST /device/v1/events":            {path: api.DevicePathEvents, body: api.EventBatch{}},
		"GET /device/v1/notify":             {path: api.DevicePathNotify},
	}
	maps.Copy(all, accountCases(w))
	maps.Copy(all, tpmCACases(w))
	return all
}

var principals = []string{operator, adminA, contribA, readerA, adminB, anonymous, forgedToken}

var rank = map[string]int{readerA: 1, contribA: 2, adminA: 3, adminB: 3}

// want is the status class principal must get on a route with the given access. No principal
// of the matrix presents a device certificate.
func want(access, principal string, c routeCase) int {
	object := c.object
	switch {
	case access == "open":
		return c.open
	case access == "device-certificate":
		return http.StatusUnauthorized
	case principal == anonymous || principal == forgedToken:
		return http.StatusUnauthorized
	case access == "operator":
		if principal == operator {
			return 200
		}
		return http.StatusForbidden
	case access == "token":
		if principal == adminB && object {
			return http.StatusNotFound
		}
		return 200
	case principal == operator:
		return http.StatusForbidden // an operator token without a tenant
	case rank[principal] < api.Role(access).Rank():
		return http.StatusForbidden
	case principal == adminB && object:
		return http.StatusNotFound // another tenant's object: never 403
	}
	return 200
}

// TestRouteRoleMatrix sends every route as every principal against a fresh pair of tenants and
// checks the answer's class. A route added without a case here, or without the right access
// level, fails.
func TestRouteRoleMatrix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		probe := newWorld(t, backend)
		all := cases(probe)
		for _, rt := range probe.api.Routes() {
			key := rt.Method + " " + rt.Path
			if _, ok := all[key]; !ok {
				t.Errorf("route %s has no case in TestRouteRoleMatrix: add one", key)
			}
		}
		for _, rt := range probe.api.Routes() {
			key := rt.Method + " " + rt.Path
			for _, p := range principals {
				t.Run(key+" as "+p, func(t *testing.T) {
					// A GET, and a device route, changes nothing that another request sees, so they
					// share the probe's world: a fresh one per request made this test outlast the
					// package's timeout.
					w := probe
					if a := rt.Access(); rt.Method != "GET" && a != "open" && a != "device-certificate" {
						w = newWorld(t, backend)
					}
					c := cases(w)[key]
					status, body := w.do(p, rt.Method, c.path, c.body)
					exp := want(rt.Access(), p, c)
					if e, ok := c.except[p]; ok {
						exp = e
					}
					got := status
					if got >= 200 && got < 300 {
						got = 200
					}
					if got != exp {
						t.Errorf("access %s: status %d, want %d; body %s", rt.Access(), status, exp, body)
					}
					if p == adminB {
						sent, _ := json.Marshal(c.body)
						assertNoLeak(t, w, key, c.path+string(sent), body)
					}
				})
			}
		}
	})
}

// assertNoLeak fails if an answer to tenant B names any of tenant A's objects that B did not
// name itself in its request.
func assertNoLeak(t *testing.T, w *world, route, request, body string) {
	t.Helper()
	for what, id := range map[string]string{"tenant": string(w.a.tenant.ID), "product": string(w.a.product.ID),
		"spare product": string(w.a.spare.ID), "group": string(w.a.group.ID), "empty group": string(w.a.empty.ID),
		"device": string(w.a.device), "user": w.a.user.ID, "tenant name": w.a.tenant.Name,
		"image": string(w.a.image.ID), "component": string(w.a.image.ComponentID), "deployment": string(w.a.deploy.ID)} {
		if strings.Contains(body, id) && !strings.Contains(request, id) {
			t.Errorf("%s as tenant B leaks tenant A's %s %s: %s", route, what, id, body)
		}
	}
}

// TestOpenAPIMatchesRoutes keeps api/openapi.json in step with the routes served and the access
// each requires.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Access string `json:"x-rampart-access"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("api/openapi.json: %v", err)
	}
	w := newWorld(t, "sqlite")
	served := map[string]bool{}
	for _, rt := range w.api.Routes() {
		key := rt.Method + " " + rt.Path
		served[key] = true
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is served but not described in api/openapi.json", key)
			continue
		}
		if op.Access != rt.Access() {
			t.Errorf("%s: openapi.json says access %q, the route requires %q", key, op.Access, rt.Access())
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if key := strings.ToUpper(method) + " " + path; !served[key] {
				t.Errorf("api/openapi.json describes %s, which is not served", key)
			}
		}
	}
}
