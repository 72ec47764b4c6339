// Package auth verifies the caller's JWT (HS256/384/512, RS256, ES256 and
// EdDSA keys from an HS secret, PEM files or a rotating JWKS URL) and turns
// its claims into the Principal that every resolver reads from the context.
// It also mints HS tokens for the demo and masks personal data.
package auth
