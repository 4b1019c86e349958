package store

import (
	"context"
	"database/sql"
)

// DB exposes the database to tests that tamper with it as an attacker with database access would.
func (s *Store) DB() *sql.DB { return s.wdb }

// Migrate applies the migrations the database has not had, as Open does.
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx) }
