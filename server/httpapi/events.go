package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
	"github.com/rampart-iot/rampart/server/report"
	"github.com/rampart-iot/rampart/server/store"
)

// tooMany answers 429 with a Retry-After of wait, rounded up to whole seconds.
func tooMany(w http.ResponseWriter, wait time.Duration, what string) error {
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errorf(http.StatusTooManyRequests, "%s: send them again in %d seconds", what, secs)
}

// deviceEvents takes a device's batch of error events: all of it, or (400, naming the first bad
// event's index) none of it, so that the device can drop that event and send the rest again.
// The device is the certificate's; the body cannot name another.
func (a *API) deviceEvents(w http.ResponseWriter, r *http.Request, d deviceCall) error {
	r.Body = http.MaxBytesReader(w, r.Body, api.MaxEventBatchSize)
	var b api.EventBatch
	if err := decode(w, r, &b); err != nil {
		return err
	}
	if len(b.Events) > api.MaxEventsPerBatch {
		return errorf(http.StatusBadRequest, "events: %d events, the limit is %d a batch", len(b.Events), api.MaxEventsPerBatch)
	}
	if b.Dropped < 0 || b.Dropped > api.MaxEventsDropped {
		return errorf(http.StatusBadRequest, "dropped: want 0 to %d, got %d", api.MaxEventsDropped, b.Dropped)
	}
	now := a.now().UTC().Truncate(time.Microsecond)
	for i := range b.Events {
		if err := report.Check(&b.Events[i], now); err != nil {
			return errorf(http.StatusBadRequest, "events[%d]: %v", i, err)
		}
	}
	cost := len(b.Events)
	if b.Dropped > 0 {
		cost++
	}
	if ok, wait := a.events.Allow(d.ID, cost, now); !ok {
		return tooMany(w, wait, "too many events from this device")
	}
	var added report.Added
	err := a.store.Update(r.Context(), func(tx *store.Tx) error {
		var err error
		added, err = report.Add(tx, report.Upload(d.TenantID, d.ID, b, now))
		return err
	})
	if err != nil {
		return err
	}
	for _, e := range b.Events {
		a.metrics.events.WithLabelValues(e.Category).Inc() // report.Check allowed only known categories
	}
	return writeJSON(w, http.StatusOK, api.EventBatchResponse{Accepted: added.Accepted, Duplicates: added.Duplicates,
		AllowCrashDumps: added.AllowCrashDumps})
}

// reportFilter reads ?since= and ?device_group= and checks the group is the caller's.
func reportFilter(r *http.Request, c *call, tx *store.Tx) (since time.Time, groupID ident.GroupID, err error) {
	q := r.URL.Query()
	if since, err = report.ParseSince(q.Get("since"), c.now); err != nil {
		return since, "", errorf(http.StatusBadRequest, "%v", err)
	}
	if ref := ident.GroupID(q.Get("device_group")); ref != "" {
		g, err := tx.Group(c.user.TenantID, ref)
		if err != nil {
			return since, "", notFound(err, "device group %q not found", clip(ref))
		}
		groupID = g.ID
	}
	return since, groupID, nil
}

func (a *API) reportErrors(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	f := store.EventFilter{Limit: limit + 1}
	if tok := q.Get("page_token"); tok != "" {
		if f.Before, err = parseEventCursor(tok); err != nil {
			return errorf(http.StatusBadRequest, "invalid page_token")
		}
	}
	var list api.ErrorEventList
	var es []store.ListedEvent
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if f.Since, f.GroupID, err = reportFilter(r, c, tx); err != nil {
			return err
		}
		if ref := q.Get("device"); ref != "" {
			id, err := ident.ParseDeviceID(ref)
			if err != nil {
				return errorf(http.StatusNotFound, "device %q not found: %v", clip(ref), err)
			}
			if _, err := tx.Device(c.user.TenantID, id); err != nil {
				return notFound(err, "device %s not found", id)
			}
			f.DeviceID = id
		}
		es, err = tx.Events(c.user.TenantID, f)
		return err
	})
	if err != nil {
		return err
	}
	if len(es) > limit {
		es = es[:limit]
		last := es[limit-1].Cursor
		list.NextPageToken = fmt.Sprintf("%d.%d", last.LastAt.UnixMicro(), last.Seq)
	}
	list.Events = make([]api.ErrorEvent, len(es))
	for i, e := range es {
		list.Events[i] = e.ErrorEvent
	}
	return writeJSON(w, http.StatusOK, list)
}

// parseEventCursor reads a page token of the errors report: "LASTMICROS.SEQ".
func parseEventCursor(s string) (store.EventCursor, error) {
	at, seq, ok := strings.Cut(s, ".")
	us, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		return store.EventCursor{}, fmt.Errorf("invalid page token")
	}
	return store.EventCursor{LastAt: time.UnixMicro(us).UTC(), Seq: n}, nil
}

func (a *API) reportSummary(w http.ResponseWriter, r *http.Request, c *call) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	var list api.ErrorSummaryList
	err = a.store.View(r.Context(), func(tx *store.Tx) error {
		since, groupID, err := reportFilter(r, c, tx)
		if err != nil {
			return err
		}
		list.Summary, err = tx.EventSummary(c.user.TenantID, since, groupID, limit)
		return err
	})
	if err != nil {
		return err
	}
	list.Summary = nonNil(list.Summary)
	return writeJSON(w, http.StatusOK, list)
}

// reportFleet counts the tenant's devices by group, last attestation and runtime, naming each
// runtime's published versions.
func (a *API) reportFleet(w http.ResponseWriter, r *http.Request, c *call) error {
	var sum api.FleetSummary
	err := a.store.View(r.Context(), func(tx *store.Tx) error {
		var err error
		if sum.Counts, err = tx.FleetCounts(c.user.TenantID, api.MaxFleetCounts); err != nil {
			return err
		}
		versions := map[string][]string{}
		for i, fc := range sum.Counts {
			if _, ok := versions[fc.RuntimeSHA512]; !ok && fc.RuntimeSHA512 != "" {
				rels, err := tx.RuntimeReleasesBySHA512(fc.RuntimeSHA512)
				if err != nil {
					return err
				}
				for _, rel := range rels {
					versions[fc.RuntimeSHA512] = append(versions[fc.RuntimeSHA512], rel.Feed+" "+rel.Version)
				}
			}
			sum.Counts[i].RuntimeVersions = nonNil(versions[fc.RuntimeSHA512])
		}
		return nil
	})
	if err != nil {
		return err
	}
	sum.Counts = nonNil(sum.Counts)
	return writeJSON(w, http.StatusOK, sum)
}
