package api

import (
	"errors"
	"net/http"

	"github.com/minivoice/minivoice/internal/voice"
)

// statusOf maps each error code to the HTTP status api.md gives it.
var statusOf = map[string]int{
	voice.ECodeInvalidJSON:           http.StatusBadRequest,
	voice.ECodeInvalidRequest:        http.StatusUnprocessableEntity,
	voice.ECodeUnauthorized:          http.StatusUnauthorized,
	voice.ECodeForbidden:             http.StatusForbidden,
	voice.ECodeCustomerSuspended:     http.StatusForbidden,
	voice.ECodeApplicationInactive:   http.StatusForbidden,
	voice.ECodeDestinationNotAllowed: http.StatusForbidden,
	voice.ECodeCallerIDNotAllowed:    http.StatusForbidden,
	voice.ECodeInsufficientBalance:   http.StatusPaymentRequired,
	voice.ECodeNotFound:              http.StatusNotFound,
	voice.ECodeConflict:              http.StatusConflict,
	voice.ECodeIdempotencyKeyReused:  http.StatusConflict,
	voice.ECodeRateLimited:           http.StatusTooManyRequests,
	voice.ECodeConcurrencyLimit:      http.StatusTooManyRequests,
	voice.ECodeCPSLimit:              http.StatusTooManyRequests,
	voice.ECodeDailySpendLimit:       http.StatusTooManyRequests,
	voice.ECodeWebhookTestFailed:     http.StatusBadGateway,
	voice.ECodeNoTrunkAvailable:      http.StatusServiceUnavailable,
	voice.ECodeInternal:              http.StatusInternalServerError,
	voice.ECodeMethodNotAllowed:      http.StatusMethodNotAllowed,
	voice.ECodeNotReady:              http.StatusServiceUnavailable,
	voice.ECodeNodeUnavailable:       http.StatusServiceUnavailable,
}

// statusError is a client error answered with a status other than its
// code's usual one: 413 for an oversized body, 416 for a bad Range, which
// keep the invalid_request code clients branch on.
type statusError struct {
	ve     *voice.Error
	status int
}

func (e *statusError) Error() string { return e.ve.Error() }
func (e *statusError) Unwrap() error { return e.ve }

// withStatus makes ve answer with status instead of its code's.
func withStatus(ve *voice.Error, status int) error { return &statusError{ve: ve, status: status} }

// HTTPStatus is the status the API answers err with: its own for an error
// made by withStatus, its code's for a *voice.Error, else 500.
func HTTPStatus(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	var ve *voice.Error
	if errors.As(err, &ve) {
		if s, ok := statusOf[ve.Code]; ok {
			return s
		}
	}
	return http.StatusInternalServerError
}
