package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// migrations holds, per dialect, the numbered SQL files that build the schema. A released
// file is never edited: a change of schema is a new file.
//
//go:embed migrations
var migrations embed.FS

// migrate applies, in one transaction and in order, the migrations the database has not had,
// recording each in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	dir := "migrations/" + s.dialect.name
	files, err := fs.ReadDir(migrations, dir) // sorted by name
	if err != nil {
		return err
	}
	return s.run(ctx, s.wdb, nil, nil, func(tx *Tx) error {
		if s.dialect.lockMigrations != "" {
			if _, err := tx.exec(s.dialect.lockMigrations); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"); err != nil {
			return err
		}
		versions, err := queryAll(tx, func(r scanner) (v int, err error) { return v, r.Scan(&v) },
			"SELECT version FROM schema_migrations")
		if err != nil {
			return err
		}
		applied := make(map[int]bool)
		for _, v := range versions {
			applied[v] = true
		}
		for _, f := range files {
			prefix, _, _ := strings.Cut(f.Name(), "_")
			version, err := strconv.Atoi(prefix)
			if err != nil || !strings.HasSuffix(f.Name(), ".sql") {
				return fmt.Errorf("migration %s: want a name like 0001_name.sql", f.Name())
			}
			if applied[version] {
				continue
			}
			body, err := fs.ReadFile(migrations, dir+"/"+f.Name())
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil { // several statements: never prepared
				return fmt.Errorf("migration %s: %w", f.Name(), err)
			}
			if _, err := tx.exec("INSERT INTO schema_migrations (version) VALUES ($1)", version); err != nil {
				return fmt.Errorf("migration %s: %w", f.Name(), err)
			}
		}
		return nil
	})
}
