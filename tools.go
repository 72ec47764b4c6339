//go:build tools

// Package tools pins build-time tools so `go run` uses the version in go.mod.
package tools

import _ "github.com/99designs/gqlgen"
