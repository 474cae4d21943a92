package voice

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the public API (api.md): clients branch on them,
// so they never change once shipped. The HTTP status each one answers with is
// the API layer's business (api.HTTPStatus); the SIP answer to a refused call,
// the SIP layer's.
const (
	ECodeInvalidJSON           = "invalid_json"
	ECodeInvalidRequest        = "invalid_request"
	ECodeUnauthorized          = "unauthorized"
	ECodeForbidden             = "forbidden"
	ECodeCustomerSuspended     = "customer_suspended"
	ECodeApplicationInactive   = "application_inactive"
	ECodeDestinationNotAllowed = "destination_not_allowed"
	ECodeCallerIDNotAllowed    = "caller_id_not_allowed"
	ECodeInsufficientBalance   = "insufficient_balance"
	ECodeNotFound              = "not_found"
	ECodeConflict              = "conflict"
	ECodeIdempotencyKeyReused  = "idempotency_key_reused"
	ECodeRateLimited           = "rate_limited"
	ECodeConcurrencyLimit      = "concurrency_limit"
	ECodeCPSLimit              = "cps_limit"
	ECodeDailySpendLimit       = "daily_spend_limit"
	ECodeWebhookTestFailed     = "webhook_test_failed"
	ECodeNoTrunkAvailable      = "no_trunk_available"
	ECodeInternal              = "internal_error"
	ECodeMethodNotAllowed      = "method_not_allowed"
	ECodeNotReady              = "not_ready"
	// ECodeNodeUnavailable: a command on a live call could not reach the
	// cluster node that holds it (docs/cluster.md).
	ECodeNodeUnavailable = "node_unavailable"
)

// Error is an error a client may see. Any other error reaching the API edge is
// reported as internal_error with its details only in the log.
type Error struct {
	Code    string
	Message string
	// Param names the request field at fault, for invalid_request.
	Param string
	// RetryAfter, in seconds, is sent as the Retry-After header when positive.
	RetryAfter int
	// Extra fields are added inside the error object (http_status for webhook_test_failed).
	Extra map[string]any
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (param %s)", e.Code, e.Message, e.Param)
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a field that failed validation.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Code: ECodeInvalidRequest, Param: param, Message: param + ": " + fmt.Sprintf(format, args...)}
}

// NotFound reports an object that does not exist or that the caller may not see;
// the two cases are indistinguishable on purpose so ids cannot be probed.
func NotFound(kind string) *Error {
	return &Error{Code: ECodeNotFound, Message: "no such " + kind}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, else internal_error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ECodeInternal
}

// IsNotFound reports whether err is a not_found Error.
func IsNotFound(err error) bool { return ErrorCode(err) == ECodeNotFound }
