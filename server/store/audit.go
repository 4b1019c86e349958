package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
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
	err := tx.queryRow(`UPDATE audit_heads SET seq = seq + 1 WHERE tenant_id = $1
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

// auditBatch is how many entries one INSERT of AppendAudits writes: 10 parameters each, well
// within both databases' limits.
const auditBatch = 50

// AppendAudits appends entries, in order, to one tenant's audit chain (every entry's TenantID
// is the same), as AppendAudit would one after the other, and returns the stored entries: the
// chain's head is taken once and its rows written a batch a statement.
func (tx *Tx) AppendAudits(es []api.AuditEntry) ([]api.AuditEntry, error) {
	if len(es) == 0 {
		return nil, nil
	}
	var out []api.AuditEntry
	err := tx.atomic(func() error { // a failure part way leaves no part of the batch in the chain
		var err error
		out, err = tx.appendAudits(es)
		return err
	})
	return out, err
}

func (tx *Tx) appendAudits(es []api.AuditEntry) ([]api.AuditEntry, error) {
	tenantID := es[0].TenantID
	for _, e := range es {
		if e.TenantID != tenantID {
			return nil, errors.New("append audit entries: entries of two chains")
		}
	}
	if _, err := tx.exec(`INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, 0, $2)
		ON CONFLICT DO NOTHING`, tenantID, api.GenesisHash); err != nil {
		return nil, fmt.Errorf("append audit entries: %w", err)
	}
	var last int64
	var prev string
	if err := tx.queryRow(`UPDATE audit_heads SET seq = seq + $2 WHERE tenant_id = $1
		RETURNING seq, hash`, tenantID, int64(len(es))).Scan(&last, &prev); err != nil {
		return nil, fmt.Errorf("append audit entries: %w", err)
	}
	out := make([]api.AuditEntry, len(es))
	for i, e := range es {
		e.Seq, e.PrevHash = last-int64(len(es))+1+int64(i), prev
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
		e.Hash = e.ComputeHash()
		out[i], prev = e, e.Hash
	}
	for batch := range slices.Chunk(out, auditBatch) {
		var q strings.Builder
		q.WriteString("INSERT INTO audit (" + auditColumns + ") VALUES ")
		var args []any
		for i, e := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10)
			args = append(args, e.Seq, e.TenantID, micros(e.Time), e.Actor, e.Action, e.Target, e.Source, e.Detail, e.PrevHash, e.Hash)
		}
		if _, err := tx.exec(q.String(), args...); err != nil {
			return nil, fmt.Errorf("append audit entries: %w", err)
		}
	}
	if _, err := tx.exec("UPDATE audit_heads SET hash = $2 WHERE tenant_id = $1", tenantID, prev); err != nil {
		return nil, fmt.Errorf("append audit entries: %w", err)
	}
	return out, nil
}

// Audit returns up to limit entries of a tenant's chain with Seq > afterSeq, oldest first.
func (tx *Tx) Audit(tenantID ident.TenantID, afterSeq int64, limit int) ([]api.AuditEntry, error) {
	es, err := queryAll(tx, scanAudit, "SELECT "+auditColumns+` FROM audit
		WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, tenantID, afterSeq, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return es, nil
}

// AuditHead returns the last entry's number and hash of a chain ("" is the operator's): 0 and
// [api.GenesisHash] if it has none.
func (tx *Tx) AuditHead(tenantID ident.TenantID) (api.AuditHead, error) {
	h, err := queryOne(tx, scanHead, "audit head", "SELECT seq, hash FROM audit_heads WHERE tenant_id = $1", tenantID)
	if errors.Is(err, ErrNotFound) {
		return api.AuditHead{Hash: api.GenesisHash}, nil
	}
	return h, err
}

func scanHead(r scanner) (api.AuditHead, error) {
	var h api.AuditHead
	return h, r.Scan(&h.Seq, &h.Hash)
}

// AuditHeads returns the head of every chain, by tenant ID ("" is the operator's).
func (tx *Tx) AuditHeads() (map[ident.TenantID]api.AuditHead, error) {
	type row struct {
		tenant ident.TenantID
		head   api.AuditHead
	}
	rows, err := queryAll(tx, func(r scanner) (row, error) {
		var x row
		return x, r.Scan(&x.tenant, &x.head.Seq, &x.head.Hash)
	}, "SELECT tenant_id, seq, hash FROM audit_heads")
	if err != nil {
		return nil, fmt.Errorf("read audit heads: %w", err)
	}
	heads := make(map[ident.TenantID]api.AuditHead, len(rows))
	for _, x := range rows {
		heads[x.tenant] = x.head
	}
	return heads, nil
}

const checkpointColumns = "tenant_id, seq, hash, signed_at, signature"

func scanCheckpoint(r scanner) (api.AuditCheckpoint, error) {
	var c api.AuditCheckpoint
	var signed int64
	err := r.Scan(&c.TenantID, &c.Seq, &c.Hash, &signed, &c.Signature)
	c.SignedAt = fromMicros(signed)
	return c, err
}

// AddCheckpoint stores a signed checkpoint. The store does not check the signature: readers do,
// with the key they pinned.
func (tx *Tx) AddCheckpoint(c api.AuditCheckpoint) error {
	_, err := tx.exec(`INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, c.TenantID, c.Seq, c.Hash, micros(c.SignedAt), c.Signature)
	if err != nil {
		return fmt.Errorf("add audit checkpoint: %w", err)
	}
	return nil
}

// Checkpoints returns up to limit checkpoints of a chain signed after the one at the cursor
// (after, 0 for the start), oldest first, and the cursor of the last one returned.
func (tx *Tx) Checkpoints(tenantID ident.TenantID, after int64, limit int) ([]api.AuditCheckpoint, error) {
	cs, err := queryAll(tx, scanCheckpoint, "SELECT "+checkpointColumns+` FROM audit_checkpoints
		WHERE tenant_id = $1 AND signed_at > $2 ORDER BY signed_at, seq LIMIT $3`, tenantID, after, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	return cs, nil
}

// CheckpointCursor is where a page of [Tx.Checkpoints] ending with c ends.
func CheckpointCursor(c api.AuditCheckpoint) int64 { return micros(c.SignedAt) }

// LatestCheckpoint returns a chain's newest checkpoint. ErrNotFound if it has none.
func (tx *Tx) LatestCheckpoint(tenantID ident.TenantID) (api.AuditCheckpoint, error) {
	return queryOne(tx, scanCheckpoint, "audit checkpoint", "SELECT "+checkpointColumns+` FROM audit_checkpoints
		WHERE tenant_id = $1 ORDER BY signed_at DESC, seq DESC LIMIT 1`, tenantID)
}
