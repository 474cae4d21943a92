// Package postgres opens MiniVoice's database on PostgreSQL through pgx, for
// deployments where several `minivoice serve` processes share one database.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store"
)

// Config configures Open.
type Config struct {
	// URL is a postgres:// connection string; search_path in it selects a schema.
	URL string
	// MaxConns bounds the pool; default 20.
	MaxConns int
	// Now is the store's clock; default time.Now.
	Now func() time.Time
	// Secrets encrypts the secret columns (store.Config.Secrets).
	Secrets *secretbox.Keyring
	// NodeID is this process's cluster node (store.Config.NodeID).
	NodeID string
}

// Dialect is PostgreSQL's.
var Dialect = store.Dialect{
	Name:     "postgres",
	Numbered: true,
	IsUniqueViolation: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
}

// Open connects and migrates.
func Open(ctx context.Context, cfg Config) (*store.DB, error) {
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 20
	}
	db, err := sql.Open("pgx", cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(cfg.MaxConns)
	db.SetMaxIdleConns(cfg.MaxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect postgres: %w", err)
	}
	s, err := store.New(ctx, store.Config{DB: db, Dialect: Dialect, Now: cfg.Now, Secrets: cfg.Secrets, NodeID: cfg.NodeID})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// The blank use keeps the stdlib driver registered as "pgx".
var _ = stdlib.GetDefaultDriver
