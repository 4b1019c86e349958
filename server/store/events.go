package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

// Event is an error event ready to store: validated, its description cleaned, with its
// signature and the normalised description (Pattern) the signature was computed from.
type Event struct {
	api.DeviceEvent
	Signature string
	Pattern   string
}

// EventDevice is what the store knows of a device that events are charged to.
type EventDevice struct {
	GroupID         ident.GroupID // "" if the device is in no group
	AllowCrashDumps bool          // the group's setting; false without a group
	GroupSince      time.Time     // when the device was claimed or joined its group, whichever is later
}

// EventDevice returns the tenant's device's group and its setting for events (ErrNotFound if
// the tenant has no such device).
func (tx *Tx) EventDevice(tenantID ident.TenantID, device ident.DeviceID) (EventDevice, error) {
	var d EventDevice
	var groupSince, claimedAt int64
	err := tx.queryRow(`SELECT COALESCE(d.group_id, ''), COALESCE(g.allow_crash_dumps, false),
			d.group_since, d.claimed_at
		FROM devices d LEFT JOIN device_groups g ON g.id = d.group_id
		WHERE d.tenant_id = $1 AND d.id = $2`, tenantID, string(device)).Scan(&d.GroupID, &d.AllowCrashDumps,
		&groupSince, &claimedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", device, ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("events of device %s: %w", device, err)
	}
	d.GroupSince = fromMicros(max(groupSince, claimedAt))
	return d, nil
}

// StoredEventIDs returns which of ids the device has an event stored under.
func (tx *Tx) StoredEventIDs(device ident.DeviceID, ids []string) (map[string]bool, error) {
	stored := make(map[string]bool)
	if len(ids) == 0 {
		return stored, nil
	}
	args := []any{string(device)}
	for _, id := range ids {
		args = append(args, id)
	}
	found, err := queryAll(tx, func(r scanner) (id string, err error) { return id, r.Scan(&id) },
		"SELECT event_id FROM events WHERE device_id = $1 AND event_id IN ("+placeholders(2, len(ids))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("events of device %s: %w", device, err)
	}
	for _, id := range found {
		stored[id] = true
	}
	return stored, nil
}

// utcDay numbers the UTC day of t.
func utcDay(t time.Time) int64 { return t.Unix() / 86400 }

// EventsStoredOn returns how many events the device's [Tx.CountEventsStored] calls counted on
// the UTC day of t.
func (tx *Tx) EventsStoredOn(device ident.DeviceID, t time.Time) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COALESCE((SELECT stored FROM event_days
		WHERE device_id = $1 AND day = $2), 0)`, string(device), utcDay(t)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("events of device %s stored today: %w", device, err)
	}
	return n, nil
}

// CountEventsStored adds n to the device's count of events stored on the UTC day of t.
func (tx *Tx) CountEventsStored(device ident.DeviceID, t time.Time, n int) error {
	if n == 0 {
		return nil
	}
	if _, err := tx.exec(`INSERT INTO event_days (device_id, day, stored) VALUES ($1, $2, $3)
		ON CONFLICT (device_id, day) DO UPDATE SET stored = event_days.stored + excluded.stored`,
		string(device), utcDay(t), n); err != nil {
		return fmt.Errorf("count events of device %s: %w", device, err)
	}
	return nil
}

// placeholders returns "$first, $first+1, …", n of them.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(first+i))
	}
	return b.String()
}

const eventColumns = `tenant_id, device_id, group_id, event_id, category, class, type, description,
	pattern, signature, component_id, image_id, count, first_at, last_at, detail, received_at`

// InsertEvents stores a tenant's device's events under groupID ("" for none), received at at, in
// one statement, skipping any whose device and event ID is stored already, and returns how many
// it inserted.
func (tx *Tx) InsertEvents(tenantID ident.TenantID, device ident.DeviceID, groupID ident.GroupID, es []Event, at time.Time) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	const perRow = 13 // the event's own columns, between group_id and received_at
	var q strings.Builder
	q.WriteString("INSERT INTO events (" + eventColumns + ") VALUES ")
	args := []any{tenantID, string(device), groupID, micros(at)}
	for i, e := range es {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($1, $2, $3, %s, $4)", placeholders(len(args)+1, perRow))
		args = append(args, e.ID, e.Category, e.Class, e.Type, e.Description, e.Pattern, e.Signature,
			e.ComponentID, e.ImageID, int64(e.Count), micros(e.FirstAt), micros(e.LastAt), e.Detail)
	}
	q.WriteString(" ON CONFLICT (device_id, event_id) DO NOTHING")
	n, err := tx.exec(q.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("add events of device %s: %w", device, err)
	}
	return int(n), nil
}

// FoldEvent adds count to the device's newest event of signature that ended at or after since,
// moving its last time on to lastAt if that is later. It reports whether there was such an event.
func (tx *Tx) FoldEvent(device ident.DeviceID, signature string, count int64, lastAt, since time.Time) (bool, error) {
	n, err := tx.exec(`UPDATE events SET count = count + $3,
			last_at = CASE WHEN last_at < $4 THEN $4 ELSE last_at END
		WHERE id = (SELECT id FROM events WHERE device_id = $1 AND signature = $2 AND last_at >= $5
			ORDER BY last_at DESC, id DESC LIMIT 1)`,
		string(device), signature, count, micros(lastAt), micros(since))
	if err != nil {
		return false, fmt.Errorf("fold event of device %s: %w", device, err)
	}
	return n > 0, nil
}

// EventFilter selects a tenant's events. Empty fields do not filter; Limit 0 means
// [api.DefaultPageSize]. Events come newest first (by last time), after Before if it is set.
type EventFilter struct {
	Since    time.Time
	GroupID  ident.GroupID
	DeviceID ident.DeviceID
	Before   EventCursor
	Limit    int
}

// EventCursor is the position of an event in the newest-first order.
type EventCursor struct {
	LastAt time.Time
	Seq    int64
}

// IsZero reports whether c is the start of the listing.
func (c EventCursor) IsZero() bool { return c.Seq == 0 }

// ListedEvent is an event as listed, with its position.
type ListedEvent struct {
	api.ErrorEvent
	Cursor EventCursor
}

// Events lists a tenant's events by f, newest first, with their product and group names.
func (tx *Tx) Events(tenantID ident.TenantID, f EventFilter) ([]ListedEvent, error) {
	q := `SELECT e.device_id, COALESCE(p.name, ''), COALESCE(g.name, ''), e.category, e.class, e.type,
		e.count, e.description, e.component_id, e.image_id, e.first_at, e.last_at, e.detail, e.signature, e.id
		FROM events e
		LEFT JOIN device_groups g ON g.id = e.group_id
		LEFT JOIN products p ON p.id = g.product_id
		WHERE e.tenant_id = $1 AND e.last_at >= $2`
	args := []any{tenantID, micros(f.Since)}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.GroupID != "" {
		q += " AND e.group_id = " + param(f.GroupID)
	}
	if f.DeviceID != "" {
		q += " AND e.device_id = " + param(string(f.DeviceID))
	}
	if !f.Before.IsZero() {
		t, s := param(micros(f.Before.LastAt)), param(f.Before.Seq)
		q += fmt.Sprintf(" AND (e.last_at < %s OR e.last_at = %s AND e.id < %s)", t, t, s)
	}
	q += " ORDER BY e.last_at DESC, e.id DESC LIMIT " + param(pageSize(f.Limit))
	es, err := queryAll(tx, func(r scanner) (ListedEvent, error) {
		var e ListedEvent
		var group string
		var first, last int64
		err := r.Scan(&e.DeviceID, &e.Product, &group, &e.Category, &e.Class, &e.Type, &e.Count,
			&e.Description, &e.ComponentID, &e.ImageID, &first, &last, &e.Detail, &e.Signature, &e.Cursor.Seq)
		if group != "" {
			e.DeviceGroup = e.Product + "/" + group
		}
		e.FirstAt, e.LastAt = fromMicros(first), fromMicros(last)
		e.Cursor.LastAt = e.LastAt
		return e, err
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return es, nil
}

// EventSummary groups a tenant's events that ended at or after since (of one device group if
// groupID is not "") by signature, most frequent first (by the sum of their counts), at most
// limit (0: api.DefaultPageSize, capped at api.MaxPageSize). Description is the normalised one.
func (tx *Tx) EventSummary(tenantID ident.TenantID, since time.Time, groupID ident.GroupID, limit int) ([]api.ErrorSummary, error) {
	ss, err := queryAll(tx, func(r scanner) (api.ErrorSummary, error) {
		var s api.ErrorSummary
		var first, last int64
		err := r.Scan(&s.Signature, &s.Category, &s.ComponentID, &s.Description, &s.Events, &s.Devices, &first, &last)
		s.FirstSeen, s.LastSeen = fromMicros(first), fromMicros(last)
		return s, err
	}, `SELECT signature, MIN(category), MIN(component_id), MIN(pattern), CAST(SUM(count) AS BIGINT),
			COUNT(DISTINCT device_id), MIN(first_at), MAX(last_at)
		FROM events WHERE tenant_id = $1 AND last_at >= $2 AND ($3 = '' OR group_id = $3)
		GROUP BY signature ORDER BY SUM(count) DESC, signature LIMIT $4`,
		tenantID, micros(since), groupID, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("summarise events: %w", err)
	}
	return ss, nil
}

// PurgeEvents deletes at most limit of the events, attestation failures and daily counts that
// ended before t, and returns how many it deleted: fewer than limit when none is left. Call it
// again, each time in a transaction of its own, so that no call holds a long lock.
func (tx *Tx) PurgeEvents(before time.Time, limit int) (int, error) {
	total := 0
	for _, q := range []struct{ what, query string }{
		{"events", `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE last_at < $1 LIMIT $2)`},
		{"attestation failures", `DELETE FROM attestation_failures WHERE id IN
			(SELECT id FROM attestation_failures WHERE at < $1 LIMIT $2)`},
		{"attestation failure counts", `DELETE FROM attestation_failure_counts WHERE interval_start IN
			(SELECT interval_start FROM attestation_failure_counts WHERE interval_start < $1 LIMIT $2)`},
	} {
		if total >= limit {
			return total, nil
		}
		n, err := tx.exec(q.query, micros(before), limit-total)
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", q.what, err)
		}
		total += int(n)
	}
	// One row per device and day: few, and gone in one statement.
	if _, err := tx.exec("DELETE FROM event_days WHERE day < $1", before.Unix()/86400-1); err != nil {
		return total, fmt.Errorf("purge event counts: %w", err)
	}
	return total, nil
}
