package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/notify"
)

// openNotify opens a device's notification stream and returns its lines, one JSON notice each.
func openNotify(t *testing.T, c *http.Client, url string) <-chan api.DeviceNotice {
	t.Helper()
	resp, err := c.Get(url + api.DevicePathNotify)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.NotifyContentType {
		t.Fatalf("notify: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan api.DeviceNotice, 8)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var n api.DeviceNotice
			if json.Unmarshal(sc.Bytes(), &n) != nil {
				return
			}
			lines <- n
		}
	}()
	return lines
}

func nextNotice(t *testing.T, lines <-chan api.DeviceNotice, within time.Duration) (api.DeviceNotice, bool) {
	t.Helper()
	select {
	case n, ok := <-lines:
		return n, ok
	case <-time.After(within):
		return api.DeviceNotice{}, false
	}
}

// TestNotifyReachesOnlyTheGroupsDevices: a device's notification stream opens with a
// keep-alive; `device-group notify` and a new deployment reach the devices of that group,
// with a jitter within the bound, and never another tenant's device.
func TestNotifyReachesOnlyTheGroupsDevices(t *testing.T) {
	w, srv := tlsWorld(t)
	a := openNotify(t, ownClient(srv, issue(t, w, w.a.device)), srv.URL)
	b := openNotify(t, ownClient(srv, issueFor(t, w, w.b.tenant.ID, w.b.device)), srv.URL)
	for name, lines := range map[string]<-chan api.DeviceNotice{"A": a, "B": b} {
		if n, ok := nextNotice(t, lines, 10*time.Second); !ok || n.Reason != api.NoticeKeepAlive {
			t.Fatalf("device %s: first line %+v, %v; want a keep-alive", name, n, ok)
		}
	}

	status, body := w.do(adminA, "POST", "/api/v1/device-groups/"+string(w.a.group.ID)+"/notify", struct{}{})
	if status != http.StatusAccepted {
		t.Fatalf("notify: %d %s", status, body)
	}
	if n := decodeAs[api.GroupNotice](t, body); n.DeviceGroupID != w.a.group.ID {
		t.Errorf("notify answered %+v", n)
	}
	n, ok := nextNotice(t, a, 10*time.Second)
	if !ok || n.Reason != api.NoticeCheckNow || n.DelayMS < 0 || time.Duration(n.DelayMS)*time.Millisecond > notify.MaxSpread {
		t.Errorf("device A after notify: %+v, %v", n, ok)
	}
	if entries := updateAuditActions(t, w, "device-group.notify"); entries != 1 {
		t.Errorf("%d device-group.notify audit entries, want 1", entries)
	}

	status, body = w.do(adminA, "POST", "/api/v1/deployments", api.CreateDeploymentRequest{DeviceGroupID: w.a.group.ID,
		ImageIDs: []ident.ImageID{w.a.image.ID}})
	if status != http.StatusCreated {
		t.Fatalf("deployment: %d %s", status, body)
	}
	if n, ok := nextNotice(t, a, 10*time.Second); !ok || n.Reason != api.NoticeDeployment {
		t.Errorf("device A after a deployment: %+v, %v", n, ok)
	}
	if n, ok := nextNotice(t, b, 2*time.Second); ok {
		t.Errorf("tenant B's device was notified of tenant A's group: %+v", n)
	}
}

// updateAuditActions counts tenant A's audit entries of action.
func updateAuditActions(t *testing.T, w *world, action string) int {
	t.Helper()
	status, body := w.do(readerA, "GET", "/api/v1/audit?limit=1000", nil)
	if status != http.StatusOK {
		t.Fatalf("audit: %d %s", status, body)
	}
	n := 0
	for _, e := range decodeAs[struct{ Entries []api.AuditEntry }](t, body).Entries {
		if e.Action == action {
			n++
		}
	}
	return n
}
