package checklist

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswerBytes bounds one API answer the checklist reads: the largest it
// asks for is a page of 200 objects.
const maxAnswerBytes = 8 << 20

// Exchange is one API request the checklist sent and the answer it got:
// the "exact request body" and "HTTP response" of a fixture.
type Exchange struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Key    string          `json:"key,omitempty"` // which key sent it: "operator" or "application"
	Body   json.RawMessage `json:"body,omitempty"`
	Status int             `json:"status"`
	Answer json.RawMessage `json:"answer,omitempty"`
}

// APIError is an answer with an unexpected status.
type APIError struct {
	Method, Path string
	Status       int
	Code         string // error.code of the body, when it has one
	Message      string // error.message, or the raw body
}

func (e *APIError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("%s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// client talks to the API with one key.
type client struct {
	base string
	key  string
	name string // "operator" or "application", for Exchange.Key
	http *http.Client
}

func newClient(base, key, name string) *client {
	return &client{base: strings.TrimRight(base, "/"), key: key, name: name,
		http: &http.Client{Timeout: 30 * time.Second}}
}

// exchange sends one request (body, if not nil, as JSON) and returns what
// was sent and answered, whatever the status; err is a transport failure.
func (c *client) exchange(ctx context.Context, method, path string, body any) (*Exchange, error) {
	ex := &Exchange{Method: method, Path: path, Key: c.name}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the body of %s %s: %w", method, path, err)
		}
		ex.Body = b
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	ex.Status = resp.StatusCode
	if t := bytes.TrimSpace(raw); len(t) > 0 {
		if json.Valid(t) {
			ex.Answer = t
		} else {
			q, _ := json.Marshal(string(t))
			ex.Answer = q
		}
	}
	return ex, nil
}

// do sends a request and decodes a JSON object answer into a map, failing
// unless the status is want.
func (c *client) do(ctx context.Context, method, path string, body any, want int) (map[string]any, error) {
	ex, err := c.exchange(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if ex.Status != want {
		return nil, answerError(ex)
	}
	if len(ex.Answer) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(ex.Answer, &m); err != nil {
		return nil, fmt.Errorf("%s %s: the answer is not a JSON object: %w", method, path, err)
	}
	return m, nil
}

// answerError turns an unexpected answer into an *APIError.
func answerError(ex *Exchange) error {
	e := &APIError{Method: ex.Method, Path: ex.Path, Status: ex.Status, Message: string(ex.Answer)}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(ex.Answer, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	return e
}

// list fetches every page of a list endpoint (query without limit/cursor)
// and returns its objects, stopping at maxItems.
func (c *client) list(ctx context.Context, path, query string, maxItems int) ([]map[string]any, error) {
	var out []map[string]any
	cursor := ""
	for {
		q := url.Values{}
		if query != "" {
			parsed, err := url.ParseQuery(query)
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", path, err)
			}
			q = parsed
		}
		q.Set("limit", "200")
		if cursor != "" {
			q.Set("after", cursor)
		}
		page, err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, 200)
		if err != nil {
			return nil, err
		}
		data, _ := page["data"].([]any)
		for _, x := range data {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		cursor = str(page["next_cursor"])
		if page["has_more"] != true || cursor == "" || len(out) >= maxItems {
			return out, nil
		}
	}
}

// str is a JSON string field; "" for null, absent or another type.
func str(v any) string {
	s, _ := v.(string)
	return s
}

// num is a JSON number field; 0 for null, absent or another type.
func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// errorCode is the code of an *APIError in err's chain, or "".
func errorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
