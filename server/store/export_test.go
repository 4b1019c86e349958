package store

import "database/sql"

// DB exposes the database to tests that tamper with it as an attacker with database access would.
func (s *Store) DB() *sql.DB { return s.db }
