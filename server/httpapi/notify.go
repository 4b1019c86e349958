package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// deviceNotify is the device's notification channel: a stream of api.DeviceNotice lines, one
// for each notice for the device's group that reaches any replica (see package notify), with
// the jitter the hub chose, and a keep-alive line every a.notifyKeepAlive. It ends after
// api.NotifyStreamLife, when the device goes away (a write that does not complete within
// deviceBodyTimeout) or when the server shuts down.
func (a *API) deviceNotify(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	rc := http.NewResponseController(w)
	// The route's read deadline would end the request (net/http cancels its context when the
	// connection's background read fails): the stream has no body to read.
	_ = rc.SetReadDeadline(time.Time{})
	wakes, unsubscribe := a.notices.Subscribe(d.GroupID)
	defer unsubscribe()
	a.metrics.notifyOpen.Inc()
	defer a.metrics.notifyOpen.Dec()

	w.Header().Set("Content-Type", api.NotifyContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(n api.DeviceNotice) bool {
		b, _ := json.Marshal(n)
		// A deadline for this write only: over HTTP/2 one left pending resets the idle stream.
		_ = rc.SetWriteDeadline(time.Now().Add(deviceBodyTimeout))
		if _, err := w.Write(append(b, '\n')); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Time{})
		return true
	}
	if !send(api.DeviceNotice{Reason: api.NoticeKeepAlive}) {
		return nil
	}
	keepAlive := time.NewTicker(a.notifyKeepAlive)
	defer keepAlive.Stop()
	end := time.NewTimer(api.NotifyStreamLife)
	defer end.Stop()
	for {
		var n api.DeviceNotice
		select {
		case <-r.Context().Done():
			return nil
		case <-end.C:
			return nil
		case wake, ok := <-wakes:
			if !ok {
				return nil // the server shuts down
			}
			n = api.DeviceNotice{Reason: wake.Reason, DelayMS: wake.Delay.Milliseconds()}
		case <-keepAlive.C:
			n = api.DeviceNotice{Reason: api.NoticeKeepAlive}
		}
		if !send(n) {
			return nil
		}
	}
}

// notifyGroup tells the devices of a group that keep their notification channel open to check
// in now (`rampart device-group notify`), on every replica.
func (a *API) notifyGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	ref := ident.GroupID(r.PathValue("group"))
	var n store.Notice
	var g api.DeviceGroup
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if g, err = tx.Group(c.user.TenantID, ref); err != nil {
			return notFound(err, "device group %q not found", clip(ref))
		}
		n = store.Notice{TenantID: g.TenantID, GroupID: g.ID, Reason: api.NoticeCheckNow, CreatedAt: c.now}
		if n.Seq, err = tx.AddNotice(n); err != nil {
			return err
		}
		return c.audit(tx, g.TenantID, "device-group.notify", "device-group/"+string(g.ID), g.FullName())
	})
	if err != nil {
		return err
	}
	a.notices.Deliver(n)
	return writeJSON(w, http.StatusAccepted, api.GroupNotice{DeviceGroupID: g.ID, DeviceGroupName: g.FullName(), At: c.now})
}
