package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"               // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// A dialect holds the little that differs between the two databases. The SQL itself is shared:
// both accept $1 placeholders, ON CONFLICT, RETURNING and savepoints.
type dialect struct {
	name   string // "sqlite" or "postgres", also the folder of its migrations
	driver string // database/sql driver name

	// lockMigrations, if set, runs first in the migration transaction so that several
	// processes starting together migrate one after the other.
	lockMigrations string

	// forUpdate, appended to a SELECT, locks the rows it reads until the transaction ends.
	// SQLite has no row locks and needs none: a write transaction holds the whole database.
	forUpdate string

	isUnique  func(error) bool // a unique constraint was violated
	retryable func(error) bool // the transaction clashed with another and may be run again
}

var sqliteDialect = dialect{
	name:   "sqlite",
	driver: "sqlite",
	isUnique: func(err error) bool {
		code := sqliteCode(err)
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
	retryable: func(err error) bool { return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY },
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// sqliteSource adds the connection settings to a SQLite file path: WAL so that readers do not
// wait for the writer, with synchronous=NORMAL (the WAL is synced at checkpoints rather than at
// every commit: a crash of the service loses nothing, a power cut may lose the last commits but
// never corrupts the database); a busy timeout so that writers of other processes wait for each
// other; foreign keys on. A writer's transactions
// take the write lock when they begin, because two that each read first and then try to
// upgrade to writing would deadlock; a reader's connection refuses to write.
func sqliteSource(path string, writer bool) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	settings := "_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=1"
	if writer {
		return path + sep + settings + "&_txlock=immediate"
	}
	return path + sep + settings + "&_query_only=1"
}

var postgresDialect = dialect{
	name:   "postgres",
	driver: "pgx",
	// Per schema, so that stores in different schemas of one database do not wait for each other.
	lockMigrations: "SELECT pg_advisory_xact_lock(1918984528, hashtext(current_schema()))",
	forUpdate:      " FOR UPDATE",
	isUnique:       func(err error) bool { return postgresCode(err) == "23505" },
	retryable: func(err error) bool {
		code := postgresCode(err)
		return code == "40001" || code == "40P01" // serialization_failure, deadlock_detected
	},
}

// postgresCode returns the SQLSTATE of a PostgreSQL error, or "".
func postgresCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
