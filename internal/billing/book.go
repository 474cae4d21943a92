package billing

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/minivoice/minivoice/internal/rating"
	"github.com/minivoice/minivoice/internal/voice"
)

// RateSource is where a Book loads its rates from (the store).
type RateSource interface {
	ActiveRates(ctx context.Context) ([]*voice.Rate, error)
}

// Book is the live rate index: every call is priced from it without a
// query. The API reloads it after each rate change; lookups never wait for a
// reload, they see the previous index until the new one is swapped in.
type Book struct {
	src    RateSource
	index  atomic.Pointer[rating.Index]
	reload sync.Mutex // one rebuild at a time; lookups are lock-free
}

// NewBook loads the rates once.
func NewBook(ctx context.Context, src RateSource) (*Book, error) {
	b := &Book{src: src}
	if err := b.Reload(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Reload rebuilds the index from the store. On error the previous index
// stays in use.
func (b *Book) Reload(ctx context.Context) error {
	b.reload.Lock()
	defer b.reload.Unlock()
	rates, err := b.src.ActiveRates(ctx)
	if err != nil {
		return fmt.Errorf("load rates: %w", err)
	}
	x, err := rating.NewIndex(rates)
	if err != nil {
		return fmt.Errorf("index rates: %w", err)
	}
	b.index.Store(x)
	return nil
}

// Lookup finds the rate for a number (digits, a leading + is fine): the
// customer's deck first, then the default deck; nil when none matches.
func (b *Book) Lookup(customerID, direction, digits string) *voice.Rate {
	return b.index.Load().Lookup(customerID, direction, digits)
}
