package voice_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/minivoice/minivoice/internal/voice"
)

func ExampleParseE164() {
	for _, s := range []string{"+15551234567", "15551234567", "+0123456789", "+1555"} {
		n, ok := voice.ParseE164(s)
		fmt.Printf("%q -> %q %v\n", s, n, ok)
	}
	// Output:
	// "+15551234567" -> "+15551234567" true
	// "15551234567" -> "" false
	// "+0123456789" -> "" false
	// "+1555" -> "" false
}

func ExampleNormalizeE164() {
	// SIP Request-URIs often carry the number without its "+".
	n, ok := voice.NormalizeE164("15551234567")
	fmt.Println(n, ok)
	// Output: +15551234567 true
}

func ExampleNewID() {
	id := voice.NewID(voice.PrefixCall, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(strings.HasPrefix(id, "call_"), len(id) == len("call_")+26, voice.ValidID(voice.PrefixCall, id))
	// Output: true true true
}
