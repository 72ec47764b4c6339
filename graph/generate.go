// Package graph holds the gqlgen-generated executable schema. Never edit generated.go by hand:
// change schema/*.graphqls and run `go generate ./...`.
package graph

//go:generate sh -c "cd .. && go run github.com/99designs/gqlgen generate"
