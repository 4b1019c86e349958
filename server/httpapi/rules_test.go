package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

func TestCreateProductMakesDefaultGroups(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(adminA, "POST", "/api/v1/products", api.CreateProductRequest{Name: "Kettle"})
		if status != http.StatusCreated {
			t.Fatalf("create: %d %s", status, body)
		}
		_, body = w.do(readerA, "GET", "/api/v1/device-groups?product=Kettle", nil)
		groups := decodeAs[[]api.DeviceGroup](t, body)
		if len(groups) != len(api.DefaultGroups) {
			t.Fatalf("got %d groups, want %d: %s", len(groups), len(api.DefaultGroups), body)
		}
		byName := map[string]api.DeviceGroup{}
		for _, g := range groups {
			byName[g.Name] = g
		}
		for _, d := range api.DefaultGroups {
			g, ok := byName[d.Name]
			if !ok || g.OSFeed != d.OSFeed || g.UpdatePolicy != d.UpdatePolicy || g.AllowCrashDumps || g.ProductName != "Kettle" {
				t.Errorf("group %q: got %+v, want feed %s policy %s", d.Name, g, d.OSFeed, d.UpdatePolicy)
			}
		}
		if byName["Development"].UpdatePolicy != api.PolicyRuntimeOnly {
			t.Errorf("Development group must not take application updates")
		}
	})
}

func TestNamesUniqueCaseInsensitively(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		if status, body := w.do(adminA, "POST", "/api/v1/products", api.CreateProductRequest{Name: "toaster"}); status != http.StatusConflict {
			t.Errorf("product differing only in case: %d %s, want 409", status, body)
		}
		// The same name in another tenant is fine.
		if status, body := w.do(adminB, "POST", "/api/v1/products", api.CreateProductRequest{Name: "Kettle"}); status != http.StatusCreated {
			t.Errorf("tenant B: %d %s", status, body)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/device-groups",
			api.CreateDeviceGroupRequest{Product: "Toaster", Name: "PRODUCTION"}); status != http.StatusConflict {
			t.Errorf("group differing only in case: %d %s, want 409", status, body)
		}
		if status, _ := w.do(readerA, "GET", "/api/v1/products/TOASTER", nil); status != http.StatusOK {
			t.Errorf("lookup by name in another case: %d", status)
		}
	})
}

func TestInvalidNamesRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	for _, name := range []string{"", strings.Repeat("x", 51), "a/b", "../etc", "semi;colon", " lead", "trail ", "tab\tname", "nul\x00", "é"} {
		status, body := w.do(adminA, "POST", "/api/v1/products", api.CreateProductRequest{Name: name})
		if status != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("product %q: %d %s, want 400 with an error", name, status, body)
		}
	}
	if status, _ := w.do(adminA, "POST", "/api/v1/products", api.CreateProductRequest{Name: strings.Repeat("x", 50)}); status != http.StatusCreated {
		t.Errorf("a 50-character name must be allowed, got %d", status)
	}
	if status, _ := w.do(adminA, "POST", "/api/v1/products", api.CreateProductRequest{Name: "Coffee Maker_2-b"}); status != http.StatusCreated {
		t.Errorf("letters, digits, spaces, '-' and '_' must be allowed, got %d", status)
	}
}

func TestGroupWithDevicesCannotBeDeleted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(adminA, "DELETE", "/api/v1/device-groups/"+string(w.a.group.ID), nil)
		if status != http.StatusConflict || !strings.Contains(body, "has devices") {
			t.Errorf("delete group with a device: %d %s, want 409", status, body)
		}
		if status, body := w.do(adminA, "DELETE", "/api/v1/products/"+string(w.a.product.ID), nil); status != http.StatusConflict {
			t.Errorf("delete product with a device: %d %s, want 409", status, body)
		}
		// Move the device out; then both can go.
		if status, body := w.do(adminA, "PATCH", "/api/v1/devices/"+string(w.a.device), map[string]any{"device_group_id": ""}); status != http.StatusOK {
			t.Fatalf("ungroup: %d %s", status, body)
		}
		if status, body := w.do(adminA, "DELETE", "/api/v1/device-groups/"+string(w.a.group.ID), nil); status != http.StatusOK {
			t.Errorf("delete empty group: %d %s", status, body)
		}
		if status, body := w.do(adminA, "DELETE", "/api/v1/products/Toaster", nil); status != http.StatusOK {
			t.Errorf("delete product: %d %s", status, body)
		}
		if status, _ := w.do(adminA, "GET", "/api/v1/device-groups/"+string(w.a.empty.ID), nil); status != http.StatusNotFound {
			t.Errorf("a deleted product's groups must go with it: %d", status)
		}
	})
}

func TestClaimDeviceOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		// Tenant B cannot claim A's device, and the batch is all or nothing.
		fresh := string(deviceID(50))
		status, body := w.do(adminB, "POST", "/api/v1/devices/claim", withCodes([]string{fresh, string(w.a.device)}))
		if status != http.StatusConflict || !strings.Contains(body, "already claimed") {
			t.Fatalf("claim of another tenant's device: %d %s, want 409 already claimed", status, body)
		}
		if strings.Contains(body, string(w.a.tenant.ID)) || strings.Contains(body, w.a.tenant.Name) {
			t.Errorf("the refusal names the tenant that holds the device: %s", body)
		}
		if status, _ := w.do(adminB, "GET", "/api/v1/devices/"+fresh, nil); status != http.StatusNotFound {
			t.Errorf("a refused batch must claim nothing; %s was claimed", fresh)
		}
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", withCodes([]string{string(w.a.device)})); status != http.StatusConflict {
			t.Errorf("second claim by the same tenant: %d %s, want 409", status, body)
		}
	})
}

// TestClaimIntoGroup: devices claimed into one of the tenant's groups are in it at once, and
// each one's audit entry says so.
func TestClaimIntoGroup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		ids := []string{string(deviceID(60)), string(deviceID(61))}
		full := w.a.product.Name + "/" + w.a.empty.Name
		req := withCodes(ids)
		req.DeviceGroupID = w.a.empty.ID
		status, body := w.do(adminA, "POST", "/api/v1/devices/claim", req)
		if status != http.StatusCreated {
			t.Fatalf("claim into group: %d %s", status, body)
		}
		for _, d := range decodeAs[api.ClaimDevicesResponse](t, body).Devices {
			if d.GroupID != w.a.empty.ID || d.GroupName != w.a.empty.Name || d.ProductName != w.a.product.Name {
				t.Errorf("claimed device %+v, want it in %s", d, full)
			}
		}
		for _, id := range ids {
			_, body := w.do(adminA, "GET", "/api/v1/devices/"+id, nil)
			if d := decodeAs[api.Device](t, body); d.GroupID != w.a.empty.ID {
				t.Errorf("device %s is in group %q, want %s", id, d.GroupID, w.a.empty.ID)
			}
		}
		_, body = w.do(adminA, "GET", "/api/v1/audit", nil)
		claims := 0
		for _, e := range decodeAs[api.AuditList](t, body).Entries {
			if e.Action == "device.claim" && slices.Contains(ids, strings.TrimPrefix(e.Target, "device/")) {
				claims++
				if !strings.HasSuffix(e.Detail, "into device group "+full) {
					t.Errorf("audit entry of %s: %q does not name the group", e.Target, e.Detail)
				}
			}
		}
		if claims != len(ids) {
			t.Errorf("%d audit entries of the claims, want %d", claims, len(ids))
		}
	})
}

// TestClaimIntoAnotherTenantsGroupIsRefused: a claim into another tenant's group, or into an
// unknown one, is not found and claims nothing.
func TestClaimIntoAnotherTenantsGroupIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		fresh := string(deviceID(70))
		for _, group := range []ident.GroupID{w.b.group.ID, "nope", ident.GroupID(strings.Repeat("x", 300))} {
			req := withCodes([]string{fresh})
			req.DeviceGroupID = group
			status, body := w.do(adminA, "POST", "/api/v1/devices/claim", req)
			if status != http.StatusNotFound {
				t.Errorf("claim into group %.20q: %d %s, want 404", group, status, body)
			}
			if strings.Contains(body, string(w.b.tenant.ID)) || strings.Contains(body, w.b.tenant.Name) || strings.Contains(body, w.b.group.Name) {
				t.Errorf("the refusal tells of tenant B's group: %s", body)
			}
		}
		for _, p := range []string{adminA, adminB} {
			if status, _ := w.do(p, "GET", "/api/v1/devices/"+fresh, nil); status != http.StatusNotFound {
				t.Errorf("a refused claim must claim nothing; %s sees %s (%d)", p, fresh, status)
			}
		}
		if _, body := w.do(adminB, "GET", "/api/v1/devices?device_group_id="+string(w.b.group.ID), nil); strings.Contains(body, fresh) {
			t.Errorf("tenant B's group got A's device: %s", body)
		}
	})
}

func TestClaimBatchLimits(t *testing.T) {
	w := newWorld(t, "sqlite")
	ids := make([]string, api.MaxClaimBatch+1)
	for i := range ids {
		ids[i] = string(deviceID(1000 + i))
	}
	if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", withCodes(ids)); status != http.StatusBadRequest {
		t.Errorf("1,001 IDs: %d %s, want 400", status, body)
	}
	if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", withCodes(ids[:api.MaxClaimBatch])); status != http.StatusCreated {
		t.Fatalf("1,000 IDs: %d %s", status, body)
	}
	for _, bad := range []string{"ABCDEF" + strings.Repeat("0", 58), strings.Repeat("0", 63), "../../etc/passwd", ""} {
		if status, body := w.do(adminA, "POST", "/api/v1/devices/claim", withCodes([]string{bad})); status != http.StatusBadRequest {
			t.Errorf("device ID %q: %d %s, want 400", bad, status, body)
		}
	}
}

func TestDeviceListPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		var ids []string
		for i := 0; i < 25; i++ {
			ids = append(ids, string(deviceID(200+i)))
		}
		if status, body := w.do(contribA, "POST", "/api/v1/devices/claim", withCodes(ids)); status != http.StatusCreated {
			t.Fatalf("claim: %d %s", status, body)
		}
		seen := map[string]bool{}
		token := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			_, body := w.do(readerA, "GET", "/api/v1/devices?limit=7&page_token="+token, nil)
			l := decodeAs[api.DeviceList](t, body)
			for _, d := range l.Devices {
				if seen[string(d.ID)] {
					t.Errorf("device %s listed twice", d.ID)
				}
				seen[string(d.ID)] = true
			}
			if token = l.NextPageToken; token == "" {
				break
			}
		}
		if len(seen) != 26 { // 25 new and the fixture's
			t.Errorf("listed %d devices, want 26", len(seen))
		}
		_, body := w.do(readerA, "GET", "/api/v1/devices?device_group="+string(w.a.group.ID), nil)
		if l := decodeAs[api.DeviceList](t, body); len(l.Devices) != 1 || l.Devices[0].ID != w.a.device {
			t.Errorf("filter by group: %s", body)
		}
		for _, q := range []string{"limit=0", "limit=1001", "limit=x", "page_token=zz"} {
			if status, _ := w.do(readerA, "GET", "/api/v1/devices?"+q, nil); status != http.StatusBadRequest {
				t.Errorf("?%s: %d, want 400", q, status)
			}
		}
	})
}

func TestRevokedUserTokenRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		status, body := w.do(adminA, "POST", "/api/v1/users", api.AddUserRequest{Email: "temp@a", Role: api.RoleContributor})
		if status != http.StatusCreated {
			t.Fatalf("add: %d %s", status, body)
		}
		added := decodeAs[api.AddUserResponse](t, body)
		w.tokens["temp"] = added.Token
		if status, _ := w.do("temp", "GET", "/api/v1/products", nil); status != http.StatusOK {
			t.Fatalf("new user's token: %d", status)
		}
		if status, body := w.do(adminA, "DELETE", "/api/v1/users/temp@a", nil); status != http.StatusOK {
			t.Fatalf("remove: %d %s", status, body)
		}
		if status, _ := w.do("temp", "GET", "/api/v1/products", nil); status != http.StatusUnauthorized {
			t.Errorf("removed user's token: %d, want 401", status)
		}
	})
}

func TestLastAdministratorCannotBeRemoved(t *testing.T) {
	w := newWorld(t, "sqlite")
	if status, body := w.do(adminA, "DELETE", "/api/v1/users/admin@tenant-a", nil); status != http.StatusConflict {
		t.Errorf("removing the last Administrator: %d %s, want 409", status, body)
	}
}

func TestRevokeDevice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		path := "/api/v1/devices/" + string(w.a.device)
		_, body := w.do(adminA, "POST", path+"/revoke", nil)
		d := decodeAs[api.Device](t, body)
		if d.State != api.DeviceRevoked || d.RevokedAt == nil {
			t.Fatalf("after revoke: %s", body)
		}
		_, body = w.do(adminA, "POST", path+"/revoke", nil)
		if again := decodeAs[api.Device](t, body); !again.RevokedAt.Equal(*d.RevokedAt) {
			t.Errorf("revoking twice changed the revocation time")
		}
	})
}

// TestEveryChangeIsAudited makes one change of each kind and checks the audit log records each,
// with actor and source, in an intact chain.
func TestEveryChangeIsAudited(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		steps := []struct {
			method, path string
			body         any
			action       string
		}{
			{"POST", "/api/v1/products", api.CreateProductRequest{Name: "Kettle"}, "product.create"},
			{"POST", "/api/v1/device-groups", api.CreateDeviceGroupRequest{Product: "Kettle", Name: "Beta"}, "device-group.create"},
			{"PATCH", "/api/v1/device-groups/" + string(w.a.group.ID), map[string]any{"update_policy": api.PolicyNone}, "device-group.update"},
			{"DELETE", "/api/v1/device-groups/" + string(w.a.empty.ID), nil, "device-group.delete"},
			{"POST", "/api/v1/devices/claim", withCodes([]string{string(deviceID(7))}), "device.claim"},
			{"PATCH", "/api/v1/devices/" + string(deviceID(7)), map[string]any{"device_group_id": w.a.group.ID}, "device.update"},
			{"POST", "/api/v1/devices/" + string(deviceID(7)) + "/revoke", nil, "device.revoke"},
			{"POST", "/api/v1/users", api.AddUserRequest{Email: "n@a", Role: api.RoleReader}, "user.add"},
			{"DELETE", "/api/v1/users/n@a", nil, "user.remove"},
			{"DELETE", "/api/v1/products/Kettle", nil, "product.delete"},
		}
		for _, s := range steps {
			if status, body := w.do(adminA, s.method, s.path, s.body); status >= 300 {
				t.Fatalf("%s %s: %d %s", s.method, s.path, status, body)
			}
		}
		_, body := w.do(readerA, "GET", "/api/v1/audit", nil)
		l := decodeAs[api.AuditList](t, body)
		if len(l.Entries) != len(steps) {
			t.Fatalf("%d audit entries, want %d: %s", len(l.Entries), len(steps), body)
		}
		for i, e := range l.Entries {
			if e.Action != steps[i].action || e.Actor != "admin@tenant-a" || e.Source == "" || e.Target == "" {
				t.Errorf("entry %d: %+v, want action %s by admin@tenant-a", i, e, steps[i].action)
			}
		}
		if _, _, err := api.VerifyChain(api.GenesisHash, 0, l.Entries); err != nil {
			t.Error(err)
		}
		_, body = w.do(adminB, "GET", "/api/v1/audit", nil)
		if l := decodeAs[api.AuditList](t, body); len(l.Entries) != 0 {
			t.Errorf("tenant B sees audit entries: %s", body)
		}
	})
}

// TestOversizedBodyRefused sends 3 MB to POST /products: 413, nothing created, the service
// keeps answering.
func TestOversizedBodyRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	big := fmt.Sprintf(`{"name":"Big","description":%q}`, strings.Repeat("x", 3<<20))
	status, body := w.do(adminA, "POST", "/api/v1/products", big)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Errorf("3 MB body: %d %s, want 413", status, body)
	}
	if status, _ := w.do(readerA, "GET", "/api/v1/products/Big", nil); status != http.StatusNotFound {
		t.Errorf("an oversized request created something")
	}
}

func TestMalformedBodiesRefused(t *testing.T) {
	w := newWorld(t, "sqlite")
	for name, body := range map[string]string{
		"garbage":        "\x00\xff garbage",
		"empty":          "",
		"array":          `[]`,
		"unknown field":  `{"name":"X1","owner":"mallory"}`,
		"trailing data":  `{"name":"X2"} {"name":"X3"}`,
		"trailing junk":  `{"name":"X4"}junk`,
		"wrong type":     `{"name":42}`,
		"truncated":      `{"name":"X5"`,
		"null name":      `{"name":null}`,
		"huge number":    `{"name":"X6","description":1e999}`,
		"deeply nested":  strings.Repeat("[", 100000),
		"nested dup key": `{"name":"X9","description":"d","x":{"a":1,"a":2}}`,
		"duplicate keys": `{"name":"X7","name":"X8"}`,
	} {
		status, resp := w.do(adminA, "POST", "/api/v1/products", body)
		if status < 400 || status >= 500 || !strings.Contains(resp, `"error"`) {
			t.Errorf("%s: %d %s, want a 4xx with an error", name, status, resp)
		}
	}
	_, body := w.do(readerA, "GET", "/api/v1/products", nil)
	if ps := decodeAs[[]api.Product](t, body); len(ps) != 2 { // the fixture's two
		t.Errorf("malformed bodies created products: %s", body)
	}
	_, body = w.do(readerA, "GET", "/api/v1/audit", nil)
	if l := decodeAs[api.AuditList](t, body); len(l.Entries) != 0 {
		t.Errorf("malformed bodies left audit entries: %s", body)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	w := newWorld(t, "sqlite")
	status, body := w.do(adminA, "GET", "/api/v1/nothing", nil)
	if status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("%d %s", status, body)
	}
}
