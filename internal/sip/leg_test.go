package sip

import (
	"testing"
	"unsafe"
)

// TestLegSize keeps a leg, allocated for every answered call, within the
// allocator's 768-byte size class: the next one is 896 bytes.
func TestLegSize(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(leg{}); n > 768 {
		t.Fatalf("a leg is %d bytes, over the 768-byte size class: mind the fields' order (padding) or move rarely used state out", n)
	}
}
