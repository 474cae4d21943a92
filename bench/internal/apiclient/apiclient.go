// Package apiclient is the small MiniVoice API client the benchmark
// programs share: JSON requests with one key, a status they expect, and
// waits that end with their context.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxAnswer bounds an answer read into memory; recordings' media are the
// largest, minutes of 16 kHz stereo.
const maxAnswer = 64 << 20

// Do sends method path to the API at base with key as its bearer token,
// body (when not nil) as JSON, and decodes the answer into out (when not
// nil), failing unless the status is want.
func Do(ctx context.Context, client *http.Client, base, key, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w: %s", method, path, err, raw)
	}
	return nil
}

// Str is a JSON string field; "" for anything else.
func Str(v any) string {
	s, _ := v.(string)
	return s
}

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ProvisionInbound sets up what an inbound load test needs on a fresh
// platform: a customer named name (limits out of the way, credit, an
// inbound rate), an inbound trunk for 127.0.0.1, an application answering
// at answerURL and the DID routed to it.
func ProvisionInbound(ctx context.Context, c *http.Client, base, key, name, did, answerURL string) error {
	post := func(path string, body any) (string, error) {
		var out map[string]any
		err := Do(ctx, c, base, key, http.MethodPost, path, body, http.StatusCreated, &out)
		if err != nil && strings.Contains(err.Error(), ": 200, want 201") {
			err = nil // credits answer 200
		}
		return Str(out["id"]), err
	}
	tag := strconv.FormatInt(time.Now().Unix(), 36)
	cust, err := post("/v1/customers", map[string]any{"name": name + "-" + tag, "max_concurrent_calls": 100000, "max_cps": 10000})
	if err != nil {
		return err
	}
	if _, err := post("/v1/rates", map[string]any{"customer_id": cust, "direction": "inbound", "prefix": "1",
		"price_per_minute": "0.01", "initial_increment": 6, "subsequent_increment": 6}); err != nil {
		return err
	}
	if _, err := post("/v1/customers/"+cust+"/credits", map[string]any{"amount": "100000.00"}); err != nil {
		return err
	}
	app, err := post("/v1/applications", map[string]any{"customer_id": cust, "name": name, "answer_url": answerURL})
	if err != nil {
		return err
	}
	if _, err := post("/v1/trunks", map[string]any{"name": name + "-in-" + tag, "direction": "inbound",
		"allowed_cidrs": []string{"127.0.0.1/32"}, "max_channels": 100000, "max_cps": 10000}); err != nil {
		return err
	}
	_, err = post("/v1/numbers", map[string]any{"number": did, "customer_id": cust, "application_id": app})
	return err
}
