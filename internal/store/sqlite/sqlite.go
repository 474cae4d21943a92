// Package sqlite opens MiniVoice's embedded database: SQLite through the pure-Go
// modernc.org/sqlite driver, in WAL mode, so `minivoice serve` needs no server.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	"github.com/minivoice/minivoice/internal/secretbox"
	"github.com/minivoice/minivoice/internal/store"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

// Config configures Open.
type Config struct {
	// Path is the database file.
	Path string
	// Now is the store's clock; default time.Now.
	Now func() time.Time
	// Secrets encrypts the secret columns (store.Config.Secrets).
	Secrets *secretbox.Keyring
}

// Dialect is SQLite's.
var Dialect = store.Dialect{
	Name: "sqlite",
	IsUniqueViolation: func(err error) bool {
		var e *sqlite3.Error
		if errors.As(err, &e) {
			c := e.Code()
			return c == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
		}
		return false
	},
}

// Open opens (creating if needed) the database at cfg.Path and migrates it.
//
// Transactions begin IMMEDIATE so a read-then-write transaction takes the write
// lock up front instead of failing with SQLITE_BUSY when it upgrades; busy_timeout
// makes writers queue rather than fail.
func Open(ctx context.Context, cfg Config) (*store.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	// The file holds every secret's ciphertext and all call history: create
	// it 0600 before SQLite does (with 0644 less the umask). SQLite gives
	// the -wal and -shm files the database file's mode.
	if f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create sqlite %s: %w", cfg.Path, err)
	}
	dsn := "file:" + cfg.Path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	s, err := store.New(ctx, store.Config{DB: db, Dialect: Dialect, Now: cfg.Now, Secrets: cfg.Secrets})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
