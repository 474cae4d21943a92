package api

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

// RefusalList is a page of the refusals log plus how many refusals this
// process left out of it because they came faster than its write rate.
type RefusalList struct {
	voice.List[*voice.SIPRefusal]
	Dropped int64 `json:"dropped"`
}

// listSIPRefusals is the operator's log of INVITEs refused before they could
// be tied to a customer (docs/telephony.md), filtered by ?since and ?source
// (an IP address, or IP:port).
func (s *Server) listSIPRefusals(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	pg, err := parsePage(r)
	if err != nil {
		return err
	}
	since, err := queryTime(r, "since")
	if err != nil {
		return err
	}
	out, err := s.SIPRefusals(r.Context(), since, r.URL.Query().Get("source"), pg)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// SIPRefusals is a page of the refusals log as GET /v1/sip/refusals (an
// operator-only route) answers it: since and source (an IP address, or
// IP:port; "" for any) filter it.
func (s *Server) SIPRefusals(ctx context.Context, since *time.Time, source string, pg voice.Page) (RefusalList, error) {
	f := voice.SIPRefusalFilter{Since: since}
	if source != "" {
		if ap, err := netip.ParseAddrPort(source); err == nil {
			f.Source = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		} else if a, err := netip.ParseAddr(source); err == nil {
			f.SourceIP = a.Unmap().String()
		} else {
			return RefusalList{}, voice.Invalid("source", "must be an IP address or IP:port")
		}
	}
	list, err := s.store.SIPRefusals(ctx, f, pg)
	if err != nil {
		return RefusalList{}, err
	}
	out := RefusalList{List: list}
	if s.refusalsDropped != nil {
		out.Dropped = s.refusalsDropped()
	}
	return out, nil
}
