package cli

import (
	"runtime/debug"
	"testing"
)

// TestBuildStamp: -ldflags values win; else the toolchain's vcs stamp, with
// -dirty for uncommitted changes; else "unknown".
func TestBuildStamp(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "abc123"},
		{Key: "vcs.time", Value: "2026-12-07T03:35:32Z"}, {Key: "vcs.modified", Value: "false"}}
	dirty := append(vcs[:3:3], debug.BuildSetting{Key: "vcs.modified", Value: "true"})
	for _, tc := range []struct {
		name                 string
		commit, date         string
		settings             []debug.BuildSetting
		wantCommit, wantDate string
	}{
		{"nothing", "", "", nil, "unknown", "unknown"},
		{"clean checkout", "", "", vcs, "abc123", "2026-12-07T03:35:32Z"},
		{"dirty checkout", "", "", dirty, "abc123-dirty", "2026-12-07T03:35:32Z"},
		{"ldflags win", "7f5d186", "2026-01-02T00:00:00Z", dirty, "7f5d186", "2026-01-02T00:00:00Z"},
		{"ldflags commit only", "7f5d186", "", vcs, "7f5d186", "2026-12-07T03:35:32Z"},
	} {
		c, d := buildStamp(tc.commit, tc.date, tc.settings)
		if c != tc.wantCommit || d != tc.wantDate {
			t.Errorf("%s: got %q, %q; want %q, %q", tc.name, c, d, tc.wantCommit, tc.wantDate)
		}
	}
}
