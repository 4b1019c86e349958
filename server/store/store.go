// Package store provides the security service's persistent state on SQLite (the embedded
// default) or PostgreSQL (for several replicas), behind one API. It stores and reads; the rules
// over what it stores live with their owners (server/report's event policy, server/deploy,
// server/auth, server/tufrepo), which call its primitives inside one transaction.
//
// # API
//
// All of it is methods of [Tx], listed by area in store.go:
//
//   - tenants (quota, claim policy), users and their tokens;
//   - products and device groups;
//   - devices: claims (with claim codes), group moves, release and revocation, device
//     certificates and the CRL, development capabilities;
//   - signing keys and tenant CAs;
//   - images, deployments, update reports, runtime releases;
//   - TUF metadata of the update repositories;
//   - attestation: nonces, outcomes, failure counts;
//   - error events: insert, fold into the newest of a signature, count per device and UTC day
//     (the primitives of report.Add), list, summarise, purge;
//   - the audit log, its heads and signed checkpoints.
//
// # Transactions
//
// Every read and change happens inside [Store.View] or [Store.Update], whose callback gets a [Tx].
// An API request that changes state runs the change and its audit entry in one Update, so a
// refused or failed request leaves nothing behind.
//
// # Errors
//
// Methods return [ErrNotFound], [ErrExists], [ErrAlreadyClaimed] or [ErrInUse] (wrapped, with the
// object named) where the caller branches; anything else is an internal fault.
//
// # Tenancy
//
// Every method that reads or changes a tenant's object takes the tenant ID and matches on it, so
// an object of another tenant is simply not found. The one exception is [Tx.DeviceAnyTenant], for
// the device API, which knows a device only by its ID.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-iot/rampart/api"
	"github.com/rampart-iot/rampart/ident"
)

var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrAlreadyClaimed = errors.New("already claimed")
	ErrInUse          = errors.New("in use")
	ErrQuota          = errors.New("over quota")
)

// Store is an open database.
//
// On SQLite it holds two pools: writes go through a single connection, so writers queue in Go
// rather than in SQLite's busy handler, and reads through a pool of their own that WAL lets run
// beside the writer. Every pool keeps its connections open: a new SQLite connection parses the
// whole schema again, and a new PostgreSQL one costs a round trip and its statement cache.
type Store struct {
	db      *sql.DB // reads
	wdb     *sql.DB // writes: db itself except on a SQLite file
	dialect dialect

	// The prepared statements of db and wdb, on SQLite (see stmtCache).
	stmts, wstmts *stmtCache

	views, updates atomic.Int64 // transactions begun, for [Store.Stats]
}

// Stats counts the transactions a store has begun.
type Stats struct {
	Views   int64 // read-only transactions
	Updates int64 // read-write transactions, each attempt counted
}

// Stats returns the store's counts of transactions so far: for metrics, and for tests that
// check how many transactions a request takes.
func (s *Store) Stats() Stats { return Stats{Views: s.views.Load(), Updates: s.updates.Load()} }

// Open opens (creating if needed) and migrates the database named by dsn: a
// `postgres://` or `postgresql://` URL for PostgreSQL, anything else is the path of a SQLite
// file (":memory:" for a private in-memory database).
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := open(dsn)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect.name, err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate %s database: %w", s.dialect.name, err)
	}
	return s, nil
}

// Connection pool sizes. PostgreSQL gets enough connections to keep its backends busy without
// queueing past what a replica can use; SQLite's readers need no more than the CPUs that run
// them.
const (
	postgresConns = 32
	connIdleTime  = 5 * time.Minute
)

func sqliteReaders() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// open opens the pools of the database named by dsn (see [Open]) without connecting.
func open(dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open(postgresDialect.driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres database: %w", err)
		}
		db.SetMaxOpenConns(postgresConns)
		db.SetMaxIdleConns(postgresConns)
		db.SetConnMaxIdleTime(connIdleTime)
		return &Store{db: db, wdb: db, dialect: postgresDialect}, nil
	}
	if dsn == ":memory:" {
		// Every connection to ":memory:" would get a database of its own: one connection
		// serves reads and writes.
		db, err := sql.Open(sqliteDialect.driver, sqliteSource(dsn, true))
		if err != nil {
			return nil, fmt.Errorf("open sqlite database: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		stmts := newStmtCache(db)
		return &Store{db: db, wdb: db, dialect: sqliteDialect, stmts: stmts, wstmts: stmts}, nil
	}
	wdb, err := sql.Open(sqliteDialect.driver, sqliteSource(dsn, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	db, err := sql.Open(sqliteDialect.driver, sqliteSource(dsn, false))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite database: %w", err)
	}
	db.SetMaxOpenConns(sqliteReaders())
	db.SetMaxIdleConns(sqliteReaders())
	return &Store{db: db, wdb: wdb, dialect: sqliteDialect, stmts: newStmtCache(db), wstmts: newStmtCache(wdb)}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.stmts.close()
	s.wstmts.close()
	if s.wdb != s.db {
		return errors.Join(s.wdb.Close(), s.db.Close())
	}
	return s.db.Close()
}

// Backend names the database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.dialect.name }

// Ping checks the database answers (for /healthz).
func (s *Store) Ping(ctx context.Context) error {
	if s.wdb != s.db {
		if err := s.wdb.PingContext(ctx); err != nil {
			return err
		}
	}
	return s.db.PingContext(ctx)
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error {
	s.views.Add(1)
	return s.run(ctx, s.db, s.stmts, &sql.TxOptions{ReadOnly: true}, fn)
}

// Update runs fn in a read-write transaction, committed if fn returns nil and rolled back
// otherwise. It may run fn again after a serialisation conflict, so fn must have no effects
// outside the transaction.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) error {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		s.updates.Add(1)
		err := s.run(ctx, s.wdb, s.wstmts, nil, fn)
		if err == nil || attempt == attempts || !s.dialect.retryable(err) {
			return err
		}
		// Wait a little, a random while, so that the transactions that clashed do not meet again.
		wait := time.Duration(attempt*(1+rand.IntN(10))) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// run runs fn in one transaction on db, whose prepared statements are stmts.
func (s *Store) run(ctx context.Context, db *sql.DB, stmts *stmtCache, opts *sql.TxOptions, fn func(*Tx) error) error {
	stmts.prepare(ctx)
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer sqlTx.Rollback() // does nothing after Commit
	if err := fn(&Tx{ctx: ctx, tx: sqlTx, dialect: s.dialect, stmts: stmts}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		if ctx.Err() != nil {
			// database/sql rolled the transaction back when ctx ended (the client went away):
			// say so, rather than that it was already done.
			return fmt.Errorf("commit transaction: %w", ctx.Err())
		}
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// Tx is an open transaction.
type Tx struct {
	ctx     context.Context
	tx      *sql.Tx
	dialect dialect
	stmts   *stmtCache
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// exec runs a statement and returns the number of rows it touched.
func (tx *Tx) exec(query string, args ...any) (int64, error) {
	res, err := tx.execContext(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// exists reports whether query returns a row.
func (tx *Tx) exists(query string, args ...any) (bool, error) {
	var ok bool
	err := tx.queryRow("SELECT EXISTS ("+query+")", args...).Scan(&ok)
	return ok, err
}

// atomic runs fn inside a savepoint, so that if fn fails none of its changes remain, even if
// the caller goes on to commit the transaction.
func (tx *Tx) atomic(fn func() error) error {
	if _, err := tx.exec("SAVEPOINT atomic"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := tx.exec("ROLLBACK TO SAVEPOINT atomic"); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	_, err := tx.exec("RELEASE SAVEPOINT atomic")
	return err
}

// queryOne returns the one row query selects, scanned by scan; ErrNotFound, naming what, if
// there is none.
func queryOne[T any](tx *Tx, scan func(scanner) (T, error), what, query string, args ...any) (T, error) {
	v, err := scan(tx.queryRow(query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	return v, nil
}

// queryAll returns every row query selects, scanned by scan.
func queryAll[T any](tx *Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	return all, rows.Err()
}

// Times are stored as microseconds since the Unix epoch: the precision both databases keep, and
// one representation for both.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// nullMicros stores an optional time: nil is NULL.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

// pageSize applies the default and the cap to a requested page size. The cap is one more than
// the largest page, so that a caller asking for a full page and one row more learns whether
// another page follows.
func pageSize(limit int) int {
	if limit <= 0 {
		return api.DefaultPageSize
	}
	return min(limit, api.MaxPageSize+1)
}

// DeviceFilter selects and pages devices. Empty fields do not filter; Limit 0 means
// [api.DefaultPageSize]. Devices come in device-ID order, after After.
type DeviceFilter struct {
	ProductID ident.ProductID
	GroupID   ident.GroupID
	// Attestation is the last attestation's result: api.AttestPass, api.AttestFail, or
	// AttestNever for a device that never attested; "" does not filter.
	Attestation string
	// RuntimeSHA512 is the runtime the device last passed attestation with; "" does not filter.
	RuntimeSHA512 string
	// SeenSince and NotSeenSince keep devices last seen (or, failing that, last attested) at or
	// after, or not since, a time (never seen counts as not seen); zero does not filter.
	SeenSince    time.Time
	NotSeenSince time.Time
	After        ident.DeviceID
	Limit        int
}

// AttestNever is the DeviceFilter.Attestation of devices that never attested.
const AttestNever = "never"

// Token is an API token as stored: only its SHA-256 hash, and what the service knows of it.
// ExpiresAt, LastUsedAt and RevokedAt are nil for never.
type Token struct {
	Hash       [32]byte
	ID         string // names the token in listings; not its secret
	UserID     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// The methods below are the whole of the store's API, by area as the package documentation
// lists them. Each is documented where it is defined.
var _ = []any{
	// Tenants, users, tokens.
	(*Tx).CreateTenant, (*Tx).Tenants, (*Tx).Tenant, (*Tx).TenantByName, (*Tx).LockTenant, (*Tx).SetImageQuota,
	(*Tx).SetAllowClaimWithoutCode,
	(*Tx).CreateUser, (*Tx).Users, (*Tx).User, (*Tx).DeleteUser, (*Tx).AnyOperator,
	(*Tx).AddToken, (*Tx).TokenUser, (*Tx).TokenAuth, (*Tx).TouchToken, (*Tx).Tokens, (*Tx).TokenByID, (*Tx).RevokeToken,
	// Products and device groups.
	(*Tx).CreateProduct, (*Tx).Products, (*Tx).Product, (*Tx).DeleteProduct,
	(*Tx).CreateGroup, (*Tx).Groups, (*Tx).Group, (*Tx).GroupByName, (*Tx).UpdateGroup, (*Tx).DeleteGroup,
	// Devices, claims, certificates and CRLs, development capabilities.
	(*Tx).ClaimDevices, (*Tx).ClaimDevicesWithCodes, (*Tx).ClaimDevicesIntoGroup, (*Tx).ClaimVerifier, (*Tx).ReleaseDevice,
	(*Tx).Devices, (*Tx).Device, (*Tx).DeviceAnyTenant, (*Tx).SetDeviceGroup, (*Tx).RevokeDevice,
	(*Tx).AddDeviceCert, (*Tx).DeviceCertRevoked, (*Tx).RevokeDeviceCertificates, (*Tx).RevokedCerts, (*Tx).CRL, (*Tx).PutCRL,
	(*Tx).EnableDevelopment, (*Tx).DisableDevelopment, (*Tx).DevelopmentCapability,
	// Keys and tenant CAs.
	(*Tx).AddSigningKey, (*Tx).AddFirstSigningKey, (*Tx).SigningKeys, (*Tx).AddCA, (*Tx).CAs, (*Tx).TenantsWithCA,
	// Images, deployments, update reports, runtime releases.
	(*Tx).AddImage, (*Tx).Image, (*Tx).Images,
	(*Tx).AddDeployment, (*Tx).Deployments, (*Tx).Deployment, (*Tx).LatestDeployment, (*Tx).CurrentDeployment,
	(*Tx).SetRollout, (*Tx).Rollouts, (*Tx).RolloutDevices,
	(*Tx).RecordUpdateReport, (*Tx).DeviceUpdates,
	(*Tx).AddRuntimeRelease, (*Tx).RuntimeReleases, (*Tx).RuntimeRelease, (*Tx).RuntimeReleasesBySHA512,
	(*Tx).WithdrawRuntimeRelease,
	// TUF metadata.
	(*Tx).LockTUFRepo, (*Tx).TUFRepos, (*Tx).PutTUFMetadata, (*Tx).TUFMetadata, (*Tx).PruneTUFMetadata, (*Tx).TUFRolesNewest,
	// Attestation: nonces, outcomes, failure counts.
	(*Tx).AddNonce, (*Tx).TakeNonce, (*Tx).UseNonce, (*Tx).PurgeNonces,
	(*Tx).RecordAttestation, (*Tx).AttestationFailures, (*Tx).AddFailureCounts, (*Tx).FailureCounts, (*Tx).CountRows,
	// Error events: primitives for server/report's policy, listings, retention.
	(*Tx).EventDevice, (*Tx).StoredEventIDs, (*Tx).InsertEvents, (*Tx).FoldEvent,
	(*Tx).EventsStoredOn, (*Tx).CountEventsStored, (*Tx).Events, (*Tx).EventSummary, (*Tx).PurgeEvents,
	// Audit log, heads, checkpoints.
	(*Tx).AppendAudit, (*Tx).AppendAudits, (*Tx).Audit, (*Tx).AuditHead, (*Tx).AuditHeads,
	(*Tx).AddCheckpoint, (*Tx).Checkpoints, (*Tx).LatestCheckpoint,
}
