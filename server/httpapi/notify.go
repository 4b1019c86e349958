package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/store"
)

// Push (api.DevicePathNotify). Each replica keeps, per device group, the newest notification
// sequence it has seen and a channel closed when it moves; devices' long polls wait on it. One
// loop per replica ([API.PollNotifications]) reads the groups whose sequence moved since its
// last read, in one indexed query, whatever the number of devices waiting: the waiting itself
// costs the store nothing. A replica that moves a sequence itself wakes its waiters at once.

// maxNotifyWaits is how many long polls one device may hold open at once on one replica.
const maxNotifyWaits = 2

// notifyLookBack is how far before its last read the loop reads again, so that a change
// stamped by a replica whose clock is behind is not missed; a change seen twice wakes nobody.
const notifyLookBack = 10 * time.Second

// hub is a replica's view of the groups' notification sequences.
type hub struct {
	mu      sync.Mutex
	seq     map[ident.GroupID]int64
	moved   map[ident.GroupID]chan struct{}
	waiting map[ident.DeviceID]int
	since   time.Time     // where the next poll reads from
	done    chan struct{} // closed when the replica stops: waiters answer at once
	stopped bool
}

func newHub() *hub {
	return &hub{seq: map[ident.GroupID]int64{}, moved: map[ident.GroupID]chan struct{}{},
		waiting: map[ident.DeviceID]int{}, done: make(chan struct{})}
}

// observe records that group's sequence is seq, waking its waiters if it moved.
func (h *hub) observe(group ident.GroupID, seq int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.seq[group]; ok && seq <= cur {
		return
	}
	h.seq[group] = seq
	if ch, ok := h.moved[group]; ok {
		close(ch)
		delete(h.moved, group)
	}
}

// watch returns group's sequence as this replica knows it (ok false if it knows none yet) and
// a channel closed when it moves.
func (h *hub) watch(group ident.GroupID) (seq int64, known bool, moved <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seq, known = h.seq[group]
	ch, ok := h.moved[group]
	if !ok {
		ch = make(chan struct{})
		h.moved[group] = ch
	}
	return seq, known, ch
}

// enter counts a long poll of device, and reports whether it may wait.
func (h *hub) enter(device ident.DeviceID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiting[device] >= maxNotifyWaits {
		return false
	}
	h.waiting[device]++
	return true
}

func (h *hub) leave(device ident.DeviceID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiting[device]--; h.waiting[device] <= 0 {
		delete(h.waiting, device)
	}
}

// stop answers every long poll at once and every later one without waiting.
func (h *hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		close(h.done)
	}
}

// PollNotifications reads the groups whose notification sequence moved since the last call and
// wakes their devices' long polls. The server calls it every second; when ctx ends, the long
// polls are answered so that the server can shut down.
func (a *API) PollNotifications(ctx context.Context) error {
	if ctx.Err() != nil {
		a.notify.stop()
		return nil
	}
	h := a.notify
	h.mu.Lock()
	since := h.since
	h.mu.Unlock()
	now := a.now()
	var ns []store.GroupNotification
	err := a.store.View(ctx, func(tx *store.Tx) error {
		var err error
		ns, err = tx.GroupNotifications(since)
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range ns {
		h.observe(n.GroupID, n.Seq)
	}
	h.mu.Lock()
	h.since = now.Add(-notifyLookBack)
	h.mu.Unlock()
	return nil
}

// StopNotifications answers every long poll now: the server is shutting down.
func (a *API) StopNotifications() { a.notify.stop() }

// deviceNotify is the device's long poll (api.DevicePathNotify): it answers at once if ?seq=
// is missing or behind the group's sequence, else when the sequence moves or after
// api.NotifyHold. A device may hold maxNotifyWaits of them at once.
func (a *API) deviceNotify(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	var after int64 = -1
	if s := r.URL.Query().Get("seq"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return errorf(http.StatusBadRequest, "seq: want the sequence number of the last notification")
		}
		after = n
	}
	if !a.notify.enter(d.ID) {
		return tooMany(w, api.NotifyHold, "too many notification requests open from this device")
	}
	defer a.notify.leave(d.ID)
	seq, known, moved := a.notify.watch(d.GroupID)
	if !known && d.GroupID != "" {
		var err error
		err = a.store.View(r.Context(), func(tx *store.Tx) error {
			seq, err = tx.GroupNotifySeq(d.GroupID)
			return err
		})
		if err != nil {
			return err
		}
		a.notify.observe(d.GroupID, seq)
		seq, _, moved = a.notify.watch(d.GroupID)
	}
	if after < 0 || after < seq {
		return writeJSON(w, http.StatusOK, api.Notification{Seq: seq, CheckIn: after >= 0})
	}
	t := time.NewTimer(api.NotifyHold)
	defer t.Stop()
	select {
	case <-moved:
		seq, _, _ = a.notify.watch(d.GroupID)
		return writeJSON(w, http.StatusOK, api.Notification{Seq: seq, CheckIn: seq > after})
	case <-t.C:
	case <-a.notify.done:
	case <-r.Context().Done():
	}
	return writeJSON(w, http.StatusOK, api.Notification{Seq: after})
}

// notifyGroup tells a group's devices to check in now (`rampart device-group notify`).
func (a *API) notifyGroup(w http.ResponseWriter, r *http.Request, c *call) error {
	id := ident.GroupID(r.PathValue("group"))
	var g api.DeviceGroup
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		if g, err = tx.Group(c.user.TenantID, id); err != nil {
			return notFound(err, "device group %q not found", clip(id))
		}
		if err := tx.NotifyGroup(c.user.TenantID, g.ID, c.now); err != nil {
			return err
		}
		return c.audit(tx, c.user.TenantID, "device-group.notify", "device-group/"+string(g.ID), g.FullName())
	})
	if err != nil {
		return err
	}
	var seq int64
	if err := a.store.View(r.Context(), func(tx *store.Tx) (err error) { seq, err = tx.GroupNotifySeq(g.ID); return err }); err != nil {
		return err
	}
	a.notify.observe(g.ID, seq) // this replica's devices at once; the others' within a second
	w.WriteHeader(http.StatusNoContent)
	return nil
}
