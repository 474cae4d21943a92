package store

import (
	"context"
	"fmt"

	"github.com/minivoice/minivoice/internal/voice"
)

const trunkCols = `id, name, direction, host, port, transport, username, password, from_domain, strip_plus, tech_prefix,
	allowed_cidrs, max_channels, max_cps, priority, setup_timeout, customer_id, status, created_at, updated_at, srtp`

func scanTrunk(r rowScanner) (*voice.Trunk, error) {
	t := &voice.Trunk{}
	err := r.Scan(&t.ID, &t.Name, &t.Direction, &t.Host, &t.Port, &t.Transport, &t.Username, &t.Password, &t.FromDomain,
		&t.StripPlus, &t.TechPrefix, jsonCol{&t.AllowedCIDRs}, &t.MaxChannels, &t.MaxCPS, &t.Priority, &t.SetupTimeout,
		nullStrCol{&t.CustomerID}, &t.Status, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, &t.SRTP)
	if t.AllowedCIDRs == nil {
		t.AllowedCIDRs = []string{}
	}
	t.HasPassword = t.Password != ""
	return t, err
}

// CreateTrunk inserts t.
func (d *DB) CreateTrunk(ctx context.Context, t *voice.Trunk) error {
	password, err := d.seal(t.Password, ctxTrunkPassword+t.ID)
	if err != nil {
		return err
	}
	return d.insert(ctx, d.db, "trunk", `INSERT INTO trunks (`+trunkCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		t.ID, t.Name, t.Direction, t.Host, t.Port, t.Transport, t.Username, password, t.FromDomain, t.StripPlus, t.TechPrefix,
		jsonCol{t.AllowedCIDRs}, t.MaxChannels, t.MaxCPS, t.Priority, t.SetupTimeout, nullStr(t.CustomerID), t.Status,
		ms(t.CreatedAt), ms(t.UpdatedAt), t.SRTP)
}

// Trunk returns one trunk.
func (d *DB) Trunk(ctx context.Context, id string) (*voice.Trunk, error) {
	return getOne(ctx, d, "trunk", d.scanTrunkOpen, `SELECT `+trunkCols+` FROM trunks WHERE id = ?`, id)
}

// Trunks lists every trunk.
func (d *DB) Trunks(ctx context.Context, p voice.Page) (voice.List[*voice.Trunk], error) {
	return page(ctx, d, "trunks", trunkCols, listQuery{}, p, d.scanTrunkOpen, func(t *voice.Trunk) voice.Cursor {
		return voice.Cursor{CreatedAt: t.CreatedAt, ID: t.ID}
	})
}

// UpdateTrunk writes every field of t.
func (d *DB) UpdateTrunk(ctx context.Context, t *voice.Trunk) error {
	password, err := d.seal(t.Password, ctxTrunkPassword+t.ID)
	if err != nil {
		return err
	}
	return d.execOne(ctx, d.db, "trunk", `UPDATE trunks SET name = ?, direction = ?, host = ?, port = ?, transport = ?, username = ?,
		password = ?, from_domain = ?, strip_plus = ?, tech_prefix = ?, allowed_cidrs = ?, max_channels = ?, max_cps = ?, priority = ?,
		setup_timeout = ?, customer_id = ?, status = ?, updated_at = ?, srtp = ? WHERE id = ?`,
		t.Name, t.Direction, t.Host, t.Port, t.Transport, t.Username, password, t.FromDomain, t.StripPlus, t.TechPrefix,
		jsonCol{t.AllowedCIDRs}, t.MaxChannels, t.MaxCPS, t.Priority, t.SetupTimeout, nullStr(t.CustomerID), t.Status,
		ms(t.UpdatedAt), t.SRTP, t.ID)
}

// DeleteTrunk removes a trunk.
func (d *DB) DeleteTrunk(ctx context.Context, id string) error {
	return d.execOne(ctx, d.db, "trunk", `DELETE FROM trunks WHERE id = ?`, id)
}

// ActiveTrunks returns the active trunks for direction, by priority.
func (d *DB) ActiveTrunks(ctx context.Context, direction string) ([]*voice.Trunk, error) {
	rows, err := d.query(ctx, `SELECT `+trunkCols+` FROM trunks WHERE status = 'active' AND direction IN (?, 'both')
		ORDER BY priority, created_at, id`, direction)
	if err != nil {
		return nil, fmt.Errorf("active trunks: %w", err)
	}
	return collect(rows, d.scanTrunkOpen)
}
