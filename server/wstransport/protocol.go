package wstransport

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Close codes of graphql-transport-ws, used for both protocols.
const (
	closeBadRequest      websocket.StatusCode = 4400
	closeUnauthorized    websocket.StatusCode = 4401
	closeForbidden       websocket.StatusCode = 4403
	closeInitTimeout     websocket.StatusCode = 4408
	closeDuplicateID     websocket.StatusCode = 4409
	closeTooManyInitReqs websocket.StatusCode = 4429
)

// message is the envelope both protocols share.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// kind is what a client message means, independent of its protocol's name for it.
type kind int

const (
	kindUnknown kind = iota
	kindInit
	kindPing
	kindPong
	kindStart
	kindStop
	kindTerminate
)

// dialect maps between the two protocols' message names.
type dialect struct{ legacy bool }

func (d dialect) kindOf(t string) kind {
	switch {
	case t == "connection_init":
		return kindInit
	case !d.legacy && t == "ping":
		return kindPing
	case !d.legacy && t == "pong":
		return kindPong
	case !d.legacy && t == "subscribe", d.legacy && t == "start":
		return kindStart
	case !d.legacy && t == "complete", d.legacy && t == "stop":
		return kindStop
	case d.legacy && t == "connection_terminate":
		return kindTerminate
	}
	return kindUnknown
}

// next is the name of a result message.
func (d dialect) next() string {
	if d.legacy {
		return "data"
	}
	return "next"
}

// isObjectOrNull reports whether an optional payload is absent, null or an
// object, the only shapes either protocol allows for init, ping and pong.
func isObjectOrNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null")) || raw[0] == '{'
}

// closeReason fits s into a close frame (at most 123 bytes), cutting on a rune boundary.
func closeReason(s string) string {
	const maxReason = 123
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
