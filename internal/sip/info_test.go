package sip

import "testing"

func TestDialogLegMatches(t *testing.T) {
	t.Parallel()
	d := dialogLeg{tagA: "caller", tagB: "platform"}
	cases := []struct {
		from, to string
		want     bool
	}{
		{"caller", "platform", true}, // INFO from the party that sent the INVITE
		{"platform", "caller", true}, // INFO from the party that answered it
		{"caller", "bogus", false},
		{"bogus", "platform", false},
		{"caller", "", false}, // no To tag: not in a dialog (RFC 3261 12.2.2)
		{"", "platform", false},
		{"", "", false},
	}
	for _, tc := range cases {
		if got := d.matches(tc.from, tc.to); got != tc.want {
			t.Errorf("matches(%q, %q) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}
