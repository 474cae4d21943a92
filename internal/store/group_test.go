package store

// Group commit (group.go) on SQLite: the writes queued while the writer is
// busy share one transaction, each in its own savepoint.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// groupDB opens a bare SQLite store (the DSN store/sqlite uses) with a
// scratch table t (k).
func groupDB(t *testing.T) *DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "group.db") +
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := New(ctx, Config{DB: sdb, Dialect: Dialect{Name: "sqlite"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := sdb.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return d
}

// queuedWrite is one groupTx call of runQueued.
type queuedWrite struct {
	ctx context.Context
	fn  func(tx *sql.Tx) error
}

// runQueued queues the writes in order while the writer is held, so they
// all wait for the same transaction, then lets them run; it returns each
// one's error.
func runQueued(t *testing.T, d *DB, writes []queuedWrite) []error {
	t.Helper()
	errs := make([]error, len(writes))
	var wg sync.WaitGroup
	d.txMu.Lock()
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("%w: %v", errPanicked, p)
				}
			}()
			errs[i] = d.groupTx(w.ctx, w.fn)
		}()
		for deadline := time.Now().Add(10 * time.Second); ; {
			d.group.mu.Lock()
			n := len(d.group.queue)
			d.group.mu.Unlock()
			if n == i+1 {
				break
			}
			if time.Now().After(deadline) {
				d.txMu.Unlock()
				t.Fatalf("write %d never queued", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	d.txMu.Unlock()
	wg.Wait()
	return errs
}

// errPanicked marks a groupTx call that panicked (runQueued).
var errPanicked = errors.New("panicked")

func insertK(k string, runs *atomic.Int32) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		if runs != nil {
			runs.Add(1)
		}
		_, err := tx.Exec(`INSERT INTO t (k) VALUES (?)`, k)
		return err
	}
}

func keys(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.db.Query(`SELECT k FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := collect(rows, func(r rowScanner) (string, error) {
		var k string
		return k, r.Scan(&k)
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ks)
	return ks
}

// wantKeys checks that t holds exactly want, in order.
func wantKeys(t *testing.T, d *DB, want ...string) {
	t.Helper()
	if got := keys(t, d); !slices.Equal(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

// insertThenFail inserts k, then fails as fail does (returns an error or
// panics), so its insert must be rolled back.
func insertThenFail(k string, fail func() error) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		if err := insertK(k, nil)(tx); err != nil {
			return err
		}
		return fail()
	}
}

func TestGroupTx(t *testing.T) {
	t.Parallel()
	errFailed := errors.New("the write refuses")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()

	t.Run("one transaction, a failure rolls back only its own writes", func(t *testing.T) {
		t.Parallel()
		d := groupDB(t)
		errs := runQueued(t, d, []queuedWrite{
			{ctx, insertK("a", nil)},
			{ctx, insertThenFail("b", func() error { return errFailed })}, // b is rolled back with it
			{ctx, insertK("a", nil)}, // a unique violation: a stays
			{canceled, insertK("d", nil)},
			{ctx, insertK("c", nil)},
		})
		if errs[0] != nil || errs[4] != nil {
			t.Errorf("errors of the good writes = %v, %v; want nil", errs[0], errs[4])
		}
		if !errors.Is(errs[1], errFailed) {
			t.Errorf("error of the failed write = %v, want its own", errs[1])
		}
		if errs[2] == nil || !strings.Contains(errs[2].Error(), "UNIQUE") {
			t.Errorf("error of the duplicate = %v, want a constraint failure", errs[2])
		}
		if !errors.Is(errs[3], context.Canceled) {
			t.Errorf("error of the canceled write = %v, want context.Canceled", errs[3])
		}
		wantKeys(t, d, "a", "c")
		if txs, writes := d.GroupStats(); txs != 1 || writes != 5 {
			t.Errorf("GroupStats = %d transactions, %d writes; want 1, 5", txs, writes)
		}
	})

	t.Run("a write that ends the transaction: the others run alone", func(t *testing.T) {
		t.Parallel()
		d := groupDB(t)
		var runsA, runsC atomic.Int32
		errs := runQueued(t, d, []queuedWrite{
			{ctx, insertK("a", &runsA)},
			{ctx, func(tx *sql.Tx) error {
				// What SQLite does to the whole transaction on an
				// interrupted statement or an I/O error.
				if _, err := tx.Exec(`ROLLBACK`); err != nil {
					return err
				}
				return errFailed
			}},
			{ctx, insertK("c", &runsC)},
		})
		if errs[0] != nil || errs[2] != nil {
			t.Errorf("errors of the good writes = %v, %v; want nil", errs[0], errs[2])
		}
		if !errors.Is(errs[1], errFailed) {
			t.Errorf("error of the breaking write = %v, want its own", errs[1])
		}
		wantKeys(t, d, "a", "c")
		if runsA.Load() != 2 || runsC.Load() != 1 {
			t.Errorf("runs of a, c = %d, %d; want 2 (in the group, then alone), 1", runsA.Load(), runsC.Load())
		}
	})

	t.Run("a write that panics: the panic is its caller's, the others are stored", func(t *testing.T) {
		t.Parallel()
		d := groupDB(t)
		errs := runQueued(t, d, []queuedWrite{
			{ctx, insertK("a", nil)},
			{ctx, insertThenFail("b", func() error { panic("a bug") })},
			{ctx, insertK("c", nil)},
		})
		if errs[0] != nil || errs[2] != nil {
			t.Errorf("errors of the good writes = %v, %v; want nil", errs[0], errs[2])
		}
		if !errors.Is(errs[1], errPanicked) || !strings.Contains(errs[1].Error(), "a bug") {
			t.Errorf("the panicking write's caller got %v, want its panic", errs[1])
		}
		wantKeys(t, d, "a", "c")
	})

	t.Run("many writers, every write stored once", func(t *testing.T) {
		t.Parallel()
		d := groupDB(t)
		const n = 200
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := d.groupTx(ctx, insertK("k"+strconv.Itoa(i), nil)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := keys(t, d); len(got) != n {
			t.Errorf("%d rows, want %d", len(got), n)
		}
		if _, writes := d.GroupStats(); writes != n {
			t.Errorf("GroupStats counted %d writes, want %d", writes, n)
		}
	})
}
