package api

import (
	"net/http"
	"net/netip"

	"github.com/minivoice/minivoice/internal/auth"
	"github.com/minivoice/minivoice/internal/voice"
)

// refusalList is a page of the refusals log plus how many refusals this
// process left out of it because they came faster than its write rate.
type refusalList struct {
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
	var f voice.SIPRefusalFilter
	if f.Since, err = queryTime(r, "since"); err != nil {
		return err
	}
	if src := r.URL.Query().Get("source"); src != "" {
		if ap, err := netip.ParseAddrPort(src); err == nil {
			f.Source = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		} else if a, err := netip.ParseAddr(src); err == nil {
			f.SourceIP = a.Unmap().String()
		} else {
			return voice.Invalid("source", "must be an IP address or IP:port")
		}
	}
	list, err := s.store.SIPRefusals(r.Context(), f, pg)
	if err != nil {
		return err
	}
	out := refusalList{List: list}
	if s.refusalsDropped != nil {
		out.Dropped = s.refusalsDropped()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
