// Package voice holds MiniVoice's domain: the types every other package speaks
// (Customer, Key, Application, Rate, Trunk, Number, Call, Event, LedgerEntry),
// the storage interfaces that adapters implement, and the Error type whose Code
// is the stable word API clients branch on.
//
// The package has no dependencies on adapters (HTTP, SQL, SIP); they depend on it.
package voice
