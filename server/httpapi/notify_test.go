package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/server/store"
)

// notification asks for api.DevicePathNotify, after seq if seq >= 0.
func notification(t *testing.T, c *http.Client, base string, seq int64) (int, api.Notification) {
	t.Helper()
	u := base + api.DevicePathNotify
	if seq >= 0 {
		u += "?seq=" + strconv.FormatInt(seq, 10)
	}
	status, body := get(t, c, u)
	var n api.Notification
	if status == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			t.Fatalf("notification %q: %v", body, err)
		}
	}
	return status, n
}

// TestNotifyWakesWaitingDevice: a device's long poll is answered when its group is notified,
// by this replica (device-group notify) or by another one (read by PollNotifications), and a
// new deployment notifies the group too.
func TestNotifyWakesWaitingDevice(t *testing.T) {
	w, srv := tlsWorld(t)
	c := deviceClient(srv, issue(t, w, w.a.device))
	status, first := notification(t, c, srv.URL, -1)
	if status != http.StatusOK || first.CheckIn {
		t.Fatalf("first notification request: %d %+v, want the sequence without a check-in", status, first)
	}
	wait := func(seq int64, nudge func()) api.Notification {
		t.Helper()
		got := make(chan api.Notification, 1)
		go func() {
			_, n := notification(t, c, srv.URL, seq)
			got <- n
		}()
		time.Sleep(200 * time.Millisecond) // the long poll is waiting
		start := time.Now()
		nudge()
		select {
		case n := <-got:
			if !n.CheckIn || n.Seq <= seq {
				t.Fatalf("after a notification: %+v, want a check-in past %d", n, seq)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the long poll answered %s after the notification", d)
			}
			return n
		case <-time.After(api.NotifyHold + 5*time.Second):
			t.Fatal("the long poll was not answered")
		}
		return api.Notification{}
	}
	n := wait(first.Seq, func() {
		if status, body := w.do(contribA, "POST", "/api/v1/device-groups/"+string(w.a.group.ID)+"/notify", nil); status != http.StatusNoContent {
			t.Fatalf("notify: %d %s", status, body)
		}
	})
	n = wait(n.Seq, func() { // another replica's change, read from the store
		err := w.st.Update(context.Background(), func(tx *store.Tx) error {
			return tx.NotifyGroup(w.a.tenant.ID, w.a.group.ID, time.Now())
		})
		if err == nil {
			err = w.api.PollNotifications(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	ids := uploadN(t, w, 1)
	n = wait(n.Seq, func() {
		if status, body := deploy(w, adminA, w.a.group.ID, ids...); status != http.StatusCreated {
			t.Fatalf("deploy: %d %s", status, body)
		}
	})
	// Behind the sequence: answered at once.
	if status, got := notification(t, c, srv.URL, 0); status != http.StatusOK || !got.CheckIn || got.Seq != n.Seq {
		t.Errorf("a request behind the sequence: %d %+v, want a check-in at %d", status, got, n.Seq)
	}
	if _, body := w.do(adminA, "GET", "/api/v1/audit", nil); !strings.Contains(body, "device-group.notify") {
		t.Error("device-group notify is not in the audit log")
	}
}

// TestNotifyLongPollFloodGets429: one device cannot hold more than two long polls open.
func TestNotifyLongPollFloodGets429(t *testing.T) {
	w, srv := tlsWorld(t)
	c := deviceClient(srv, issue(t, w, w.a.device))
	_, first := notification(t, c, srv.URL, -1)
	done := make(chan int, 2)
	for range 2 {
		go func() {
			status, _ := notification(t, c, srv.URL, first.Seq)
			done <- status
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if status, _ := notification(t, c, srv.URL, first.Seq); status != http.StatusTooManyRequests {
		t.Errorf("a third long poll: %d, want 429", status)
	}
	w.api.StopNotifications() // as the server does when it shuts down: both answer now
	for range 2 {
		select {
		case status := <-done:
			if status != http.StatusOK {
				t.Errorf("a long poll ended by shutdown: %d", status)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a long poll outlived the shutdown")
		}
	}
}
