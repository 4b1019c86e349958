// Package storetest opens fresh, isolated stores for tests, on every backend the test
// environment offers: SQLite always, and PostgreSQL when RAMPART_TEST_POSTGRES names a server,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
//
// Each PostgreSQL store lives in a schema of its own, dropped when the test ends, so tests may
// run in parallel against one database.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-iot/rampart/server/store"
)

// PostgresEnv is the environment variable that names the PostgreSQL server to test against.
const PostgresEnv = "RAMPART_TEST_POSTGRES"

// Backends returns the names of the backends to test: "sqlite", and "postgres" if
// RAMPART_TEST_POSTGRES is set.
func Backends(t testing.TB) []string {
	t.Helper()
	backends := []string{"sqlite"}
	if os.Getenv(PostgresEnv) != "" {
		backends = append(backends, "postgres")
	}
	return backends
}

// Open opens an empty store on backend, closed and removed when the test ends. A PostgreSQL
// server that RAMPART_TEST_POSTGRES names but that cannot be reached fails the test.
func Open(t testing.TB, backend string) *store.Store {
	t.Helper()
	s, _ := OpenRaw(t, backend)
	return s
}

// OpenRaw is [Open], and also returns a second connection to the same database, for tests that
// tamper with it as someone with database access but without the service's keys would.
func OpenRaw(t testing.TB, backend string) (*store.Store, *sql.DB) {
	t.Helper()
	var dsn string
	switch backend {
	case "sqlite":
		dsn = filepath.Join(t.TempDir(), "rampart.db")
	case "postgres":
		dsn = Schema(t)
	default:
		t.Fatalf("storetest: unknown backend %q", backend)
	}
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("storetest: open %s store: %v", backend, err)
	}
	t.Cleanup(func() { s.Close() })
	driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[backend]
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("storetest: open %s database: %v", backend, err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}

// Schema creates an empty PostgreSQL schema, dropped when the test ends, and returns a
// RAMPART_TEST_POSTGRES URL that works in it, for tests that open stores themselves.
func Schema(t testing.TB) string {
	t.Helper()
	server := os.Getenv(PostgresEnv)
	if server == "" {
		t.Fatalf("storetest: %s is not set", PostgresEnv)
	}
	u, err := url.Parse(server)
	if err != nil {
		// Not err itself: it would show the URL, password included.
		t.Fatalf("storetest: %s is not a URL", PostgresEnv)
	}
	admin, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL at %s: %v", PostgresEnv, err)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "rampart_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("storetest: PostgreSQL at %s cannot be used: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		// Registered before the store's Close, so it runs after it.
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Each runs test in parallel on a fresh store of every backend.
func Each(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Parallel()
	for _, backend := range Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, Open(t, backend))
		})
	}
}
