package rating

import (
	"fmt"
	"sort"

	"github.com/minivoice/minivoice/internal/voice"
)

// Index is an in-memory longest-prefix index over rate decks: every active
// rate of the default deck and of every customer deck, for both directions.
// It answers the same question as the store's MatchRate (billing.md: the
// active rate with the longest prefix that the number's digits start with,
// customer deck first, default deck only when the customer deck has no match
// at all) without a database round trip, in well under a microsecond.
//
// An Index is immutable once built, so any number of goroutines may call
// Lookup on it without locking. To change rates, build a new Index from the
// full set of rates and publish it with an atomic.Pointer[Index] store;
// lookups in flight finish on the old one. A nil *Index matches nothing.
//
// Layout: one digit trie per (deck, direction), all sharing one slice of
// fixed-size nodes that name their children by int32 index. That is 44 bytes
// per node, a single allocation for the whole index, and no pointers for the
// garbage collector to trace except the rates themselves.
type Index struct {
	nodes []node
	// rates[k-1] is the rate of a node whose rate field is k.
	rates []*voice.Rate
	// decks maps a customer id ("" for the default deck) to the root node of
	// its outbound and inbound tries (0: the deck has no rate that way).
	decks map[string][2]int32
	// defaults is decks[""], kept apart so the fallback every lookup of a
	// customer without its own match makes costs no second map lookup.
	defaults [2]int32
}

// node is one digit position of a trie. Index 0 of Index.nodes is never a
// child, so a zero child means "none", and a zero rate means "no rate ends
// here"; a fresh node{} is an empty node.
type node struct {
	child [10]int32
	rate  int32
}

// dirIndex maps a direction to its slot in Index.decks, -1 if rates cannot
// have that direction.
func dirIndex(direction string) int {
	switch direction {
	case voice.DirectionOutbound:
		return 0
	case voice.DirectionInbound:
		return 1
	}
	return -1
}

// NewIndex builds an Index of the active rates among rates; inactive ones are
// left out, as MatchRate ignores them, so the caller may pass a whole deck
// listing. A rate whose CustomerID is nil or points to "" goes in the default
// deck.
//
// If two active rates share deck, direction and prefix (the database's unique
// index forbids it, but a caller may assemble rates by hand), the newer
// CreatedAt wins, as in MatchRate's ORDER BY created_at DESC, and then the
// greater ID so the choice is deterministic.
//
// NewIndex fails, rather than silently dropping a rate, on a nil rate, a
// direction other than outbound or inbound, or a prefix that is not all ASCII
// digits (the API strips the "+" and validates digits, so such a rate would
// be a bug elsewhere); the caller should keep serving the previous Index.
// The Index keeps the *voice.Rate pointers: the caller must not modify them
// afterwards.
func NewIndex(rates []*voice.Rate) (*Index, error) {
	x := &Index{nodes: make([]node, 1, 1+len(rates)*2), decks: map[string][2]int32{}}
	for _, r := range rates {
		if r == nil {
			return nil, fmt.Errorf("rating: nil rate")
		}
		if r.Status != voice.RateActive {
			continue
		}
		dir := dirIndex(r.Direction)
		if dir < 0 {
			return nil, fmt.Errorf("rating: rate %s: direction %q is not outbound or inbound", r.ID, r.Direction)
		}
		for i := 0; i < len(r.Prefix); i++ {
			if c := r.Prefix[i]; c < '0' || c > '9' {
				return nil, fmt.Errorf("rating: rate %s: prefix %q is not all digits", r.ID, r.Prefix)
			}
		}
		deck := ""
		if r.CustomerID != nil {
			deck = *r.CustomerID
		}
		roots := x.decks[deck]
		if roots[dir] == 0 {
			roots[dir] = x.newNode()
			x.decks[deck] = roots
		}
		n := roots[dir]
		for i := 0; i < len(r.Prefix); i++ {
			c := r.Prefix[i] - '0'
			next := x.nodes[n].child[c]
			if next == 0 {
				next = x.newNode() // may move x.nodes: index it again below
				x.nodes[n].child[c] = next
			}
			n = next
		}
		if old := x.nodes[n].rate; old != 0 {
			if newer(r, x.rates[old-1]) {
				x.rates[old-1] = r
			}
			continue
		}
		x.rates = append(x.rates, r)
		x.nodes[n].rate = int32(len(x.rates))
	}
	x.layout()
	x.rates = append([]*voice.Rate(nil), x.rates...)
	x.defaults = x.decks[""]
	return x, nil
}

// layout renumbers the nodes breadth-first, trie by trie, into a slice of
// exactly the right size. Insertion order scatters each trie's top levels,
// which every lookup walks, across the whole slice; breadth-first puts the
// first few levels of a deck (about 11,000 nodes, 500 KB, for a full
// 4-digit level) next to each other where they stay in the CPU caches. It
// also drops the spare capacity append's doubling left behind.
func (x *Index) layout() {
	decks := make([]string, 0, len(x.decks))
	for d := range x.decks {
		decks = append(decks, d)
	}
	sort.Strings(decks) // deterministic, and the default deck ("") first
	old := x.nodes
	nodes := make([]node, 1, len(old))
	queue := make([]int32, 0, len(old))
	for _, d := range decks {
		roots := x.decks[d]
		for dir, root := range roots {
			if root == 0 {
				continue
			}
			// Copy the root; each copied node still names its children by
			// old index until it is dequeued and they are copied in turn.
			nodes = append(nodes, old[root])
			roots[dir] = int32(len(nodes) - 1)
			queue = append(queue[:0], roots[dir])
			for len(queue) > 0 {
				n := queue[0]
				queue = queue[1:]
				for c, oc := range nodes[n].child {
					if oc == 0 {
						continue
					}
					nodes = append(nodes, old[oc])
					nodes[n].child[c] = int32(len(nodes) - 1)
					queue = append(queue, int32(len(nodes)-1))
				}
			}
		}
		x.decks[d] = roots
	}
	x.nodes = nodes
}

// newNode appends an empty node and returns its index.
func (x *Index) newNode() int32 {
	x.nodes = append(x.nodes, node{})
	return int32(len(x.nodes) - 1)
}

// newer reports whether a should win over b for the same prefix.
func newer(a, b *voice.Rate) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// Lookup returns the rate that prices a call of the given direction to (or,
// inbound, from the DID) digits for customerID: the active rate with the
// longest prefix of digits in the customer's deck, else, only if that deck
// has no match at all, the longest match in the default deck; nil if neither
// matches, which the caller turns into 403 destination_not_allowed (inbound:
// SIP 403).
//
// digits is the E.164 number without its "+"; one leading "+" is tolerated and
// skipped. Matching stops at the first non-digit, since no prefix can extend
// past one. An empty customerID searches the default deck only, as
// MatchRate does. The returned rate is shared: do not modify it. Lookup does
// not allocate and is safe for concurrent use.
func (x *Index) Lookup(customerID, direction, digits string) *voice.Rate {
	if x == nil {
		return nil
	}
	dir := dirIndex(direction)
	if dir < 0 {
		return nil
	}
	if len(digits) > 0 && digits[0] == '+' {
		digits = digits[1:]
	}
	if customerID != "" {
		if roots, ok := x.decks[customerID]; ok && roots[dir] != 0 {
			if k := x.walk(roots[dir], digits); k != 0 {
				return x.rates[k-1]
			}
		}
	}
	if root := x.defaults[dir]; root != 0 {
		if k := x.walk(root, digits); k != 0 {
			return x.rates[k-1]
		}
	}
	return nil
}

// walk follows digits down the trie at root and returns the rate number of
// the deepest node passed that has one (0: none).
func (x *Index) walk(root int32, digits string) int32 {
	nodes := x.nodes
	n := root
	best := nodes[n].rate
	for i := 0; i < len(digits); i++ {
		c := digits[i] - '0'
		if c > 9 {
			break
		}
		n = nodes[n].child[c]
		if n == 0 {
			break
		}
		if k := nodes[n].rate; k != 0 {
			best = k
		}
	}
	return best
}

// Len returns the number of rates the index holds (active rates, one per
// deck, direction and prefix).
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.rates)
}
