package store

import (
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/ident"
)

// Notice asks the devices of a device group that wait on the device API's notification route
// to check in now.
type Notice struct {
	Seq       int64
	TenantID  ident.TenantID
	GroupID   ident.GroupID
	Reason    string
	CreatedAt time.Time
}

// MaxNotices bounds how many notices [Tx.NoticesSince] returns at once.
const MaxNotices = 1000

// AddNotice records a notice for a tenant's device group and returns its sequence number.
func (tx *Tx) AddNotice(n Notice) (int64, error) {
	seq, err := queryOne(tx, func(r scanner) (int64, error) {
		var seq int64
		return seq, r.Scan(&seq)
	}, "notice", `INSERT INTO group_notices (tenant_id, group_id, reason, created_at) VALUES ($1, $2, $3, $4) RETURNING seq`,
		n.TenantID, n.GroupID, n.Reason, micros(n.CreatedAt))
	if err != nil {
		return 0, fmt.Errorf("add a notice for device group %s: %w", n.GroupID, err)
	}
	return seq, nil
}

// NoticesSince returns the notices created at or after since, oldest first, at most MaxNotices.
// Sequence numbers may commit out of order on PostgreSQL, so readers ask by time, with a margin,
// and drop what they have seen by Seq.
func (tx *Tx) NoticesSince(since time.Time) ([]Notice, error) {
	ns, err := queryAll(tx, func(r scanner) (Notice, error) {
		var n Notice
		var at int64
		err := r.Scan(&n.Seq, &n.TenantID, &n.GroupID, &n.Reason, &at)
		n.CreatedAt = fromMicros(at)
		return n, err
	}, fmt.Sprintf(`SELECT seq, tenant_id, group_id, reason, created_at FROM group_notices
		WHERE created_at >= $1 ORDER BY created_at, seq LIMIT %d`, MaxNotices), micros(since))
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	return ns, nil
}

// PruneNotices removes the notices created before before and returns how many.
func (tx *Tx) PruneNotices(before time.Time) (int64, error) {
	n, err := tx.exec(`DELETE FROM group_notices WHERE created_at < $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune notices: %w", err)
	}
	return n, nil
}
