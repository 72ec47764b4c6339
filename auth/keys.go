package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// minRSABits rejects keys that are factorable or close to it.
const minRSABits = 2048

// pubKey is a verification key. key is *rsa.PublicKey, *ecdsa.PublicKey on
// P-256 or ed25519.PublicKey; nothing else gets in.
type pubKey struct {
	kid string
	key crypto.PublicKey
}

// keyAlg is the only algorithm a key may verify. Binding the algorithm to the
// key type is what stops algorithm-confusion attacks.
func keyAlg(k crypto.PublicKey) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return "RS256"
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return "ES256"
		}
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// checkPublicKey accepts only the key types and sizes the gateway verifies.
func checkPublicKey(k crypto.PublicKey) (crypto.PublicKey, error) {
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, need at least %d", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("EC key is not on P-256")
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return k, nil
}

// parsePEMKey reads the first PEM block: a PKIX public key, a PKCS#1 RSA
// public key or a certificate (whose validity dates are not checked: the key
// is what is trusted).
func parsePEMKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		k   crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE") {
			return nil, errors.New("got a private key, want a public key or certificate")
		}
		return nil, fmt.Errorf("unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", strings.ToLower(block.Type), err)
	}
	return checkPublicKey(k)
}

// jwk holds the members of RFC 7517/7518/8037 keys that the gateway reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the usable signing keys of a JWK set. Keys that are for
// encryption, of an unsupported type or malformed are skipped, each with a
// reason, so that one odd key does not take the whole set down.
func parseJWKS(body []byte) (keys []pubKey, skipped []string, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("decoding JWK set: %w", err)
	}
	for i, raw := range set.Keys {
		var j jwk
		k, err := func() (crypto.PublicKey, error) {
			if err := json.Unmarshal(raw, &j); err != nil {
				return nil, err
			}
			if j.Use != "" && j.Use != "sig" {
				return nil, fmt.Errorf("use %q is not sig", j.Use)
			}
			k, err := j.publicKey()
			if err != nil {
				return nil, err
			}
			if j.Alg != "" && j.Alg != keyAlg(k) {
				return nil, fmt.Errorf("alg %q is not supported for kty %s", j.Alg, j.Kty)
			}
			return k, nil
		}()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %s): %v", i, printable(j.Kid), err))
			continue
		}
		keys = append(keys, pubKey{kid: j.Kid, key: k})
	}
	return keys, skipped, nil
}

func (j jwk) publicKey() (crypto.PublicKey, error) {
	switch j.Kty {
	case "RSA":
		n, err := b64Field("n", j.N)
		if err != nil {
			return nil, err
		}
		e, err := b64Field("e", j.E)
		if err != nil {
			return nil, err
		}
		eInt := new(big.Int).SetBytes(e)
		if !eInt.IsInt64() || eInt.Int64() < 3 || eInt.Int64() > 1<<31-1 {
			return nil, errors.New("field e: exponent out of range")
		}
		return checkPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eInt.Int64())})
	case "EC":
		if j.Crv != "P-256" {
			return nil, fmt.Errorf("field crv: unsupported curve %q", j.Crv)
		}
		x, err := b64Field("x", j.X)
		if err != nil {
			return nil, err
		}
		y, err := b64Field("y", j.Y)
		if err != nil {
			return nil, err
		}
		if len(x) > 32 || len(y) > 32 {
			return nil, errors.New("fields x, y: longer than 32 bytes")
		}
		// Left-pad: some issuers drop leading zero bytes although RFC 7518 forbids it.
		point := make([]byte, 65)
		point[0] = 4
		copy(point[33-len(x):33], x)
		copy(point[65-len(y):], y)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, fmt.Errorf("fields x, y: %w", err)
		}
		return k, nil
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("field crv: unsupported curve %q", j.Crv)
		}
		x, err := b64Field("x", j.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("field x: %d bytes, want %d", len(x), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	default:
		return nil, fmt.Errorf("field kty: unsupported key type %q", j.Kty)
	}
}

func b64Field(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("field %s: missing", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", name, err)
	}
	return b, nil
}

// printable quotes a value taken from untrusted input for an error message,
// shortened so that it cannot flood a log line.
func printable(s string) string {
	const limit = 64
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return fmt.Sprintf("%q", s)
}
