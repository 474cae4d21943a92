package checklist

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/shopspring/decimal"
)

// Names of what the checklist creates. It finds them by name on later runs
// and brings them back to the state it needs, so a deployment collects one
// set of checklist objects, not one per run.
const (
	customerMain        = "checklist"
	customerUnreachable = "checklist-unreachable"
	customerBroke       = "checklist-broke"
	trunkSim            = "checklist-simulator"
	trunkDead           = "checklist-dead-carrier"
	trunkBroke          = "checklist-broke-simulator"
	trunkInbound        = "checklist-inbound"
)

// Application roles: each is one application, "checklist-<role>".
const (
	roleMain        = "main"        // customer checklist: the calls, webhooks answered 204
	roleFlaky       = "flaky"       // customer checklist: webhooks answered 500 once per event
	roleFailing     = "failing"     // customer checklist: webhooks answered 500 always
	roleUnreachable = "unreachable" // customer checklist-unreachable
	roleBroke       = "broke"       // customer checklist-broke (no credit)
)

// The checklist's numbers. DIDs are the platform's numbers its simulator
// calls; the others are numbers on the simulator (the carrier), whose last
// four digits pick what the carrier does.
const (
	didVoicemail    = "+15557010001"
	didNoInput      = "+15557010002"
	didHangup       = "+15557010003"
	callerNumber    = "+15557030001" // the simulator's caller id on inbound cases
	fromNumber      = "+15557040001" // the caller id of outbound calls
	toRecorded      = "+15557020150" // scripted: speaks, presses 42#
	toBusy          = "+15557020486" // 486 Busy Here
	toNoAnswer      = "+15557020408" // rings forever
	toAnswerHangup  = "+15557020999" // answers, hangs up after 2 s
	toUnreachable   = "+15557020000" // behind the dead carrier
	toNoRate        = "+447700900123"
	toNotE164       = "12345"
	ratedPrefix     = "1555"
	checklistCredit = "10.00"
)

// deployment is what provisioning found or made.
type deployment struct {
	customers map[string]string // name -> id
	apps      map[string]string // role -> id
	appKey    string            // a fresh key of the main application
	appKeyID  string
	numbers   map[string]string // DID -> number id
}

// provision creates or selects, with the operator key, every object the
// cases use, pointing URLs at the receiver and trunks at the simulator. dead
// is a loopback UDP port that swallows every packet: the unreachable carrier.
func (r *run) provision(ctx context.Context, simPort, deadPort int) error {
	d := &deployment{customers: map[string]string{}, apps: map[string]string{}, numbers: map[string]string{}}
	r.dep = d
	customers, err := r.op.list(ctx, "/v1/customers", "", 10000)
	if err != nil {
		return fmt.Errorf("listing customers: %w", err)
	}
	for _, name := range []string{customerMain, customerUnreachable, customerBroke} {
		id := ""
		for _, c := range customers {
			if str(c["name"]) == name {
				id = str(c["id"])
				break
			}
		}
		// fromNumber is a simulator number, not one of the customer's: the
		// operator verifies it for the customer as its caller ID, as for a
		// business's own line (api.md, caller ID).
		body := map[string]any{"name": name, "status": "active", "max_concurrent_calls": 50, "max_cps": 50,
			"verified_caller_ids": []string{fromNumber}}
		if id == "" {
			c, err := r.op.do(ctx, "POST", "/v1/customers", body, 201)
			if err != nil {
				return fmt.Errorf("creating customer %s: %w", name, err)
			}
			id = str(c["id"])
		} else if _, err := r.op.do(ctx, "PATCH", "/v1/customers/"+id, body, 200); err != nil {
			return fmt.Errorf("updating customer %s: %w", name, err)
		}
		d.customers[name] = id
		if err := r.rates(ctx, id); err != nil {
			return err
		}
		if name != customerBroke {
			if err := r.topUp(ctx, id); err != nil {
				return err
			}
		}
	}
	trunks, err := r.op.list(ctx, "/v1/trunks", "", 10000)
	if err != nil {
		return fmt.Errorf("listing trunks: %w", err)
	}
	for _, t := range []struct {
		name string
		body map[string]any
	}{
		{trunkSim, map[string]any{"direction": "outbound", "host": "127.0.0.1", "port": simPort, "transport": "udp",
			"customer_id": d.customers[customerMain], "max_cps": 50, "status": "active", "setup_timeout": 8}},
		// The customer without credit has a working route, so its call is
		// refused for its balance and nothing else.
		{trunkBroke, map[string]any{"direction": "outbound", "host": "127.0.0.1", "port": simPort, "transport": "udp",
			"customer_id": d.customers[customerBroke], "status": "active", "setup_timeout": 8}},
		{trunkDead, map[string]any{"direction": "outbound", "host": "127.0.0.1", "port": deadPort, "transport": "udp",
			"customer_id": d.customers[customerUnreachable], "status": "active", "setup_timeout": 3}},
		{trunkInbound, map[string]any{"direction": "inbound", "allowed_cidrs": []string{"127.0.0.1/32"},
			"max_cps": 50, "status": "active"}},
	} {
		if err := r.upsertTrunk(ctx, trunks, t.name, t.body); err != nil {
			return err
		}
	}
	apps, err := r.op.list(ctx, "/v1/applications", "", 10000)
	if err != nil {
		return fmt.Errorf("listing applications: %w", err)
	}
	for _, a := range []struct {
		role, customer, hooks string
	}{
		{roleMain, customerMain, hooksOK},
		{roleFlaky, customerMain, hooksFlaky},
		{roleFailing, customerMain, hooksFail},
		{roleUnreachable, customerUnreachable, hooksOK},
		{roleBroke, customerBroke, hooksOK},
	} {
		if err := r.upsertApp(ctx, apps, a.role, d.customers[a.customer], a.hooks); err != nil {
			return err
		}
	}
	if r.cfg.Application != "" {
		// The operator named the application to test: it takes the main
		// role, with its answer and webhook URLs pointed at the receiver.
		d.apps[roleMain] = r.cfg.Application
	}
	key, err := r.op.do(ctx, "POST", "/v1/applications/"+d.apps[roleMain]+"/keys", map[string]any{"name": "checklist run"}, 201)
	if err != nil {
		return fmt.Errorf("creating an application key: %w", err)
	}
	d.appKey, d.appKeyID = str(key["key"]), str(key["id"])
	r.app = newClient(r.cfg.API, d.appKey, "application")
	numbers, err := r.op.list(ctx, "/v1/numbers", "", 10000)
	if err != nil {
		return fmt.Errorf("listing numbers: %w", err)
	}
	for _, did := range []string{didVoicemail, didNoInput, didHangup} {
		if err := r.upsertNumber(ctx, numbers, did); err != nil {
			return err
		}
	}
	return nil
}

// rates makes sure customer id has an outbound and an inbound rate for
// ratedPrefix, billed per started minute so a short call always costs the
// same (which keeps fixtures stable).
func (r *run) rates(ctx context.Context, id string) error {
	for _, dir := range []string{"outbound", "inbound"} {
		q := url.Values{"customer_id": {id}, "direction": {dir}, "prefix": {ratedPrefix}}
		have, err := r.op.list(ctx, "/v1/rates", q.Encode(), 10)
		if err != nil {
			return fmt.Errorf("listing rates: %w", err)
		}
		body := map[string]any{"customer_id": id, "direction": dir, "prefix": ratedPrefix, "price_per_minute": "0.01",
			"initial_increment": 60, "subsequent_increment": 60, "description": "checklist"}
		found := ""
		for _, rt := range have {
			if str(rt["prefix"]) == ratedPrefix && str(rt["direction"]) == dir {
				found = str(rt["id"])
			}
		}
		if found == "" {
			if _, err := r.op.do(ctx, "POST", "/v1/rates", body, 201); err != nil {
				return fmt.Errorf("creating the %s rate: %w", dir, err)
			}
		}
	}
	return nil
}

// topUp adds credit when the balance is under checklistCredit.
func (r *run) topUp(ctx context.Context, id string) error {
	c, err := r.op.do(ctx, "GET", "/v1/customers/"+id, nil, 200)
	if err != nil {
		return err
	}
	bal, _ := decimal.NewFromString(str(c["balance"]))
	want := decimal.RequireFromString(checklistCredit)
	if bal.GreaterThanOrEqual(want) {
		return nil
	}
	if _, err := r.op.do(ctx, "POST", "/v1/customers/"+id+"/credits",
		map[string]any{"amount": want.StringFixed(2), "description": "checklist"}, 201); err != nil {
		return fmt.Errorf("adding credit: %w", err)
	}
	return nil
}

func (r *run) upsertTrunk(ctx context.Context, have []map[string]any, name string, body map[string]any) error {
	body["name"] = name
	for _, t := range have {
		if str(t["name"]) == name {
			patch := map[string]any{}
			for k, v := range body {
				if k != "direction" && k != "customer_id" {
					patch[k] = v
				}
			}
			if _, err := r.op.do(ctx, "PATCH", "/v1/trunks/"+str(t["id"]), patch, 200); err != nil {
				return fmt.Errorf("updating trunk %s: %w", name, err)
			}
			return nil
		}
	}
	if _, err := r.op.do(ctx, "POST", "/v1/trunks", body, 201); err != nil {
		return fmt.Errorf("creating trunk %s: %w", name, err)
	}
	return nil
}

func (r *run) upsertApp(ctx context.Context, have []map[string]any, role, customerID, hooks string) error {
	name := "checklist-" + role
	body := map[string]any{"name": name, "status": "active", "answer_url": r.rcv.answerURL(role, "default"),
		"webhook_url": r.rcv.hooksURL(role, hooks), "insights": role == roleMain, "record_by_default": false,
		"topics": []map[string]any{{"name": "appointment", "keywords": []string{"appointment", "book", "tuesday"}},
			{"name": "billing", "keywords": []string{"invoice", "bill", "payment"}}}}
	id := ""
	for _, a := range have {
		if str(a["name"]) == name && str(a["customer_id"]) == customerID {
			id = str(a["id"])
		}
	}
	if role == roleMain && r.cfg.Application != "" {
		id = r.cfg.Application
		delete(body, "name")
	}
	if id == "" {
		body["customer_id"] = customerID
		a, err := r.op.do(ctx, "POST", "/v1/applications", body, 201)
		if err != nil {
			return fmt.Errorf("creating application %s: %w", name, err)
		}
		r.dep.apps[role] = str(a["id"])
		r.rcv.setSecret(role, str(a["webhook_secret"]))
		return nil
	}
	if _, err := r.op.do(ctx, "PATCH", "/v1/applications/"+id, body, 200); err != nil {
		return fmt.Errorf("updating application %s: %w", name, err)
	}
	// The secret is shown on creation and rotation only: rotate to learn it.
	s, err := r.op.do(ctx, "POST", "/v1/applications/"+id+"/webhook-secret/rotate", map[string]any{}, 200)
	if err != nil {
		return fmt.Errorf("rotating the webhook secret of %s: %w", name, err)
	}
	r.dep.apps[role] = id
	r.rcv.setSecret(role, str(s["webhook_secret"]))
	return nil
}

func (r *run) upsertNumber(ctx context.Context, have []map[string]any, did string) error {
	body := map[string]any{"number": did, "customer_id": r.dep.customers[customerMain], "application_id": r.dep.apps[roleMain]}
	for _, n := range have {
		if str(n["number"]) != did {
			continue
		}
		if str(n["customer_id"]) != r.dep.customers[customerMain] {
			return fmt.Errorf("number %s belongs to another customer (%s): the checklist needs it for its inbound cases", did, str(n["customer_id"]))
		}
		if _, err := r.op.do(ctx, "PATCH", "/v1/numbers/"+str(n["id"]),
			map[string]any{"application_id": r.dep.apps[roleMain], "status": "active"}, 200); err != nil {
			return fmt.Errorf("updating number %s: %w", did, err)
		}
		r.dep.numbers[did] = str(n["id"])
		return nil
	}
	n, err := r.op.do(ctx, "POST", "/v1/numbers", body, 201)
	if err != nil {
		return fmt.Errorf("creating number %s: %w", did, err)
	}
	r.dep.numbers[did] = str(n["id"])
	return nil
}

// itoa is strconv.Itoa, for building paths.
func itoa(n int) string { return strconv.Itoa(n) }
