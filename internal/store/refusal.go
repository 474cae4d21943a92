package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"

	"github.com/minivoice/minivoice/internal/voice"
)

const refusalCols = `id, created_at, source, transport, from_user, to_user, sip_code, reason, why, sip_call_id`

func scanRefusal(r rowScanner) (*voice.SIPRefusal, error) {
	f := &voice.SIPRefusal{}
	err := r.Scan(&f.ID, timeCol{&f.CreatedAt}, &f.Source, &f.Transport, &f.From, &f.To, &f.SIPCode, &f.Reason, &f.Why,
		&f.CallID)
	return f, err
}

// sourceIP is the address part of an IP:port source, or the whole string
// when it is not one (it is then only matched by an exact ?source=).
func sourceIP(source string) string {
	if ap, err := netip.ParseAddrPort(source); err == nil {
		return ap.Addr().Unmap().String()
	}
	return source
}

// AddSIPRefusal stores r and trims the log to the newest keep rows in the
// same transaction. The trim deletes the row at position keep (newest first)
// and everything older, found through the (created_at, id) index, so its
// cost is bounded by keep whatever the table held before.
func (d *DB) AddSIPRefusal(ctx context.Context, r *voice.SIPRefusal, keep int) error {
	if keep < 1 {
		keep = 1
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.insert(ctx, tx, "sip refusal", `INSERT INTO sip_refusals (id, created_at, source, source_ip, transport,
			from_user, to_user, sip_code, reason, why, sip_call_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			r.ID, ms(r.CreatedAt), r.Source, sourceIP(r.Source), r.Transport, r.From, r.To, r.SIPCode, r.Reason, r.Why,
			r.CallID); err != nil {
			return err
		}
		_, err := d.exec(ctx, tx, `DELETE FROM sip_refusals WHERE (created_at, id) <= (SELECT created_at, id
			FROM sip_refusals ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?)`, keep)
		if err != nil {
			return fmt.Errorf("trim sip refusals: %w", err)
		}
		return nil
	})
}

// SIPRefusals lists refusals newest first.
func (d *DB) SIPRefusals(ctx context.Context, f voice.SIPRefusalFilter, p voice.Page) (voice.List[*voice.SIPRefusal], error) {
	var l listQuery
	if f.Since != nil {
		l.add("created_at >= ?", ms(*f.Since))
	}
	if f.SourceIP != "" {
		l.add("source_ip = ?", f.SourceIP)
	}
	if f.Source != "" {
		l.add("source_ip = ? AND source = ?", sourceIP(f.Source), f.Source)
	}
	return page(ctx, d, "sip_refusals", refusalCols, l, p, scanRefusal, func(r *voice.SIPRefusal) voice.Cursor {
		return voice.Cursor{CreatedAt: r.CreatedAt, ID: r.ID}
	})
}
