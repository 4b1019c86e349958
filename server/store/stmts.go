package store

import (
	"context"
	"database/sql"
	"sync"
)

// # Prepared statements
//
// SQLite parses a statement each time it is run unprepared, and on the hot paths the parse
// costs more than the run. A stmtCache keeps, per pool, one [sql.Stmt] for each statement the
// store has run, which database/sql prepares once on each connection and reuses after
// ([sql.Tx.StmtContext]).
//
// A statement is prepared on the pool, not in the transaction that first runs it: that
// transaction holds the pool's connection (SQLite's writer has only one), so it runs the
// statement unprepared and leaves it for the next transaction to prepare before it begins.
//
// PostgreSQL needs none of this: pgx keeps a cache of prepared statements on each connection.

// maxStmts bounds the statements a cache prepares. The store's statements are a fixed set of
// a few hundred; the bound only stops a bug that built statements from data from growing it.
const maxStmts = 1024

type stmtCache struct {
	db *sql.DB

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// get returns the prepared statement of query, or nil if it is not prepared yet, in which
// case it asks for it to be.
func (c *stmtCache) get(query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stmts[query]
	if st == nil && len(c.stmts)+len(c.pending) < maxStmts {
		c.pending[query] = true
	}
	return st
}

// prepare prepares the statements asked for. It must not be called while a transaction of
// the pool is open in this goroutine: it takes a connection of its own.
func (c *stmtCache) prepare(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	var queries []string
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, and reports its error there
		}
		c.mu.Lock()
		if c.stmts[q] == nil {
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	clear(c.stmts)
}

// stmt returns the prepared statement of query bound to the transaction, or nil.
func (tx *Tx) stmt(query string) *sql.Stmt {
	st := tx.stmts.get(query)
	if st == nil {
		return nil
	}
	return tx.tx.StmtContext(tx.ctx, st)
}

// execContext, queryRow and query run a statement in the transaction, prepared if it can be.
func (tx *Tx) execContext(query string, args ...any) (sql.Result, error) {
	if st := tx.stmt(query); st != nil {
		return st.ExecContext(tx.ctx, args...)
	}
	return tx.tx.ExecContext(tx.ctx, query, args...)
}

func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	if st := tx.stmt(query); st != nil {
		return st.QueryRowContext(tx.ctx, args...)
	}
	return tx.tx.QueryRowContext(tx.ctx, query, args...)
}

func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	if st := tx.stmt(query); st != nil {
		return st.QueryContext(tx.ctx, args...)
	}
	return tx.tx.QueryContext(tx.ctx, query, args...)
}
