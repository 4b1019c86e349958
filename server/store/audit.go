package store

import (
	"fmt"
	"time"

	"github.com/rampart-iot/rampart/api"
)

const auditColumns = "seq, tenant_id, time, actor, action, target, source, detail, prev_hash, hash"

func scanAudit(r scanner) (api.AuditEntry, error) {
	var e api.AuditEntry
	var at int64
	err := r.Scan(&e.Seq, &e.TenantID, &at, &e.Actor, &e.Action, &e.Target, &e.Source, &e.Detail,
		&e.PrevHash, &e.Hash)
	e.Time = fromMicros(at)
	return e, err
}

// AppendAudit appends e to its tenant's audit chain (e.TenantID; "" is the operator's chain),
// setting Seq, PrevHash and Hash, and returns the stored entry. Concurrent appends to one
// chain are serialised.
func (tx *Tx) AppendAudit(e api.AuditEntry) (api.AuditEntry, error) {
	// The chain's head row holds its last seq and hash. Taking the next seq with an UPDATE locks
	// the row until this transaction ends (in SQLite the write lock does it), so the next
	// append to the chain waits and then sees this one.
	if _, err := tx.exec(`INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)
		ON CONFLICT DO NOTHING`, e.TenantID, api.GenesisHash); err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	err := tx.tx.QueryRowContext(tx.ctx, `UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1
		RETURNING seq, hash`, e.TenantID).Scan(&e.Seq, &e.PrevHash)
	if err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	// Hash the time as it is stored, so that the stored row verifies.
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.Hash = e.ComputeHash()
	if _, err := tx.exec(`INSERT INTO audit (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.Seq, e.TenantID, micros(e.Time), e.Actor, e.Action, e.Target, e.Source, e.Detail,
		e.PrevHash, e.Hash); err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	if _, err := tx.exec("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1", e.TenantID, e.Hash); err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// Audit returns up to limit entries of a tenant's chain with Seq > afterSeq, oldest first.
func (tx *Tx) Audit(tenantID string, afterSeq int64, limit int) ([]api.AuditEntry, error) {
	es, err := queryAll(tx, scanAudit, "SELECT "+auditColumns+` FROM audit
		WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenantID, afterSeq, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return es, nil
}
