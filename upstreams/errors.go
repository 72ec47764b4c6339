package upstreams

import (
	"errors"
	"fmt"
)

// Sentinels callers branch on. Driver errors wrap one of them in an *Error.
var (
	ErrNotSupported   = errors.New("not supported by this source")
	ErrUnauthorized   = errors.New("source refused the gateway's credentials")
	ErrUnavailable    = errors.New("source unavailable")
	ErrBadResponse    = errors.New("source sent an invalid response")
	ErrBadArgument    = errors.New("invalid argument for this source")
	ErrNotFound       = errors.New("not found at source")
	ErrRateLimited    = errors.New("source rate limit reached")
	ErrUpstreamStatus = errors.New("source answered with an error")
)

// Error is a failure attributed to one source. Message is safe to show a client (it never
// holds secrets or vendor internals beyond what the vendor told us in its error body);
// Err keeps the whole chain for logs and errors.Is.
type Error struct {
	Source string // source id
	Vendor string
	// Op is what the driver was doing, as a gerund phrase ("listing calls").
	Op string
	// Field names the document field at fault, when a mapping failed.
	Field string
	// Kind is one of the sentinels above.
	Kind error
	// Detail is a short client-safe explanation (vendor error code/message, HTTP status).
	Detail string
	Err    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("source %s (%s): %s: %s", e.Source, e.Vendor, e.Op, e.Kind)
	if e.Field != "" {
		msg += ": field " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap exposes both the kind and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Public is the message a client may see: everything but the wrapped cause.
func (e *Error) Public() string { return e.Error() }

// Code is the GraphQL extensions.code for the error.
func (e *Error) Code() string {
	switch {
	case errors.Is(e.Kind, ErrNotSupported):
		return "NOT_SUPPORTED"
	case errors.Is(e.Kind, ErrBadArgument):
		return "BAD_USER_INPUT"
	case errors.Is(e.Kind, ErrNotFound):
		return "NOT_FOUND"
	case errors.Is(e.Kind, ErrUnauthorized):
		return "UPSTREAM_UNAUTHORIZED"
	case errors.Is(e.Kind, ErrRateLimited):
		return "UPSTREAM_RATE_LIMITED"
	case errors.Is(e.Kind, ErrBadResponse):
		return "UPSTREAM_BAD_RESPONSE"
	default:
		return "UPSTREAM_UNAVAILABLE"
	}
}

// Errorf is a shorthand for drivers: kind is a sentinel, err the cause (may be nil).
func (s SourceSpec) Errorf(op string, kind error, err error, detail string) *Error {
	return &Error{Source: s.ID, Vendor: s.Vendor, Op: op, Kind: kind, Err: err, Detail: detail}
}

// FieldError reports a document field the driver could not map.
func (s SourceSpec) FieldError(op, field string, err error) *Error {
	detail := ""
	if err != nil {
		detail = err.Error()
	}
	return &Error{Source: s.ID, Vendor: s.Vendor, Op: op, Field: field, Kind: ErrBadResponse, Err: err, Detail: detail}
}
