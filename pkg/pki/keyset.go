package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"time"
)

// Key algorithms.
//
// CAs and leaf certificates use ECDSA P-256: every Kubernetes component,
// etcd and Go's crypto/tls accept it (kubeadm offers it as
// encryptionAlgorithm ECDSA-P256), keys generate in microseconds rather than
// the tens of milliseconds RSA needs (nodeup issues leaves at boot on small
// machines), and signatures and handshakes are cheaper.
//
// The service-account signing key is RSA 2048: tokens are then signed RS256,
// the one JWS algorithm every OIDC consumer of service-account tokens must
// support (cloud workload-identity federation, Vault, external verifiers),
// and the key is generated once per cluster, so RSA's cost does not matter.
const (
	serviceAccountKeyBits = 2048

	// clockSkew is how far NotBefore is backdated so that machines whose
	// clocks run slightly behind accept a freshly issued certificate.
	clockSkew = 5 * time.Minute
)

// A Keyset is a named signing identity with a primary item and an optional
// next item (for rotation later).
type Keyset struct {
	Name    string
	Primary *Item
	Next    *Item
}

// An Item is one key (and, except for bare keys, its certificate) of a Keyset.
type Item struct {
	// ID is the decimal serial number: the certificate's serial, or a random
	// serial for a bare key.
	ID string
	// Certificate is nil for a bare key such as the service-account key.
	Certificate *x509.Certificate
	// Key is nil when the item was loaded from a public-only document.
	Key crypto.Signer
	// PublicKey is always set.
	PublicKey crypto.PublicKey
}

// Item types reported by Info.
const (
	TypeCA          = "CA"
	TypeKey         = "key"
	TypeCertificate = "certificate"
)

// Type is TypeCA, TypeCertificate (a leaf stored as a keyset) or TypeKey.
func (i *Item) Type() string {
	switch {
	case i.Certificate == nil:
		return TypeKey
	case i.Certificate.IsCA:
		return TypeCA
	default:
		return TypeCertificate
	}
}

// KeypairInfo is one row of `hull get keypairs`.
type KeypairInfo struct {
	Keyset    string
	ID        string
	Role      string // "primary" or "next"
	Type      string // "CA", "certificate" or "key"
	Subject   string
	NotAfter  time.Time // zero for bare keys
	Algorithm string
}

// Roles reported by Info.
const (
	RolePrimary = "primary"
	RoleNext    = "next"
)

// Info lists the keyset's items, primary first.
func (k *Keyset) Info() []KeypairInfo {
	var rows []KeypairInfo
	for _, ri := range k.items() {
		row := KeypairInfo{
			Keyset:    k.Name,
			ID:        ri.item.ID,
			Role:      ri.role,
			Type:      ri.item.Type(),
			Algorithm: Algorithm(ri.item.PublicKey),
		}
		if c := ri.item.Certificate; c != nil {
			row.Subject = c.Subject.String()
			row.NotAfter = c.NotAfter
		}
		rows = append(rows, row)
	}
	return rows
}

// CertPool holds the certificates of the primary and next items: the trust
// bundle for this keyset, which keeps working across a rotation.
func (k *Keyset) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, ri := range k.items() {
		if ri.item.Certificate != nil {
			pool.AddCert(ri.item.Certificate)
		}
	}
	return pool
}

type roleItem struct {
	role string
	item *Item
}

func (k *Keyset) items() []roleItem {
	var out []roleItem
	if k.Primary != nil {
		out = append(out, roleItem{RolePrimary, k.Primary})
	}
	if k.Next != nil {
		out = append(out, roleItem{RoleNext, k.Next})
	}
	return out
}

// Algorithm names a public key's algorithm and size, e.g. "ECDSA P-256" or
// "RSA 2048".
func Algorithm(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + p.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", p.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return ""
	default:
		return fmt.Sprintf("%T", pub)
	}
}

var keysetNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// validateKeysetName keeps names safe to use as a state-store path element.
func validateKeysetName(name string) error {
	if name == "" {
		return errors.New("keyset name is required")
	}
	if len(name) > 253 || !keysetNameRE.MatchString(name) {
		return fmt.Errorf("keyset name %q is invalid: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", name)
	}
	return nil
}

// NewCAKeyset creates a keyset whose primary item is a new self-signed
// certificate authority valid from now (less a few minutes of clock skew)
// for validity.
func NewCAKeyset(name, commonName string, now time.Time, validity time.Duration) (*Keyset, error) {
	if err := validateKeysetName(name); err != nil {
		return nil, err
	}
	if commonName == "" {
		return nil, fmt.Errorf("keyset %q: CA common name is required", name)
	}
	if validity <= 0 {
		return nil, fmt.Errorf("keyset %q: CA validity must be positive, got %s", name, validity)
	}
	key, err := newECDSAKey()
	if err != nil {
		return nil, fmt.Errorf("keyset %q: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("keyset %q: %w", name, err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("keyset %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew).UTC(),
		NotAfter:              now.Add(validity).UTC(),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("keyset %q: signing CA certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("keyset %q: parsing new CA certificate: %w", name, err)
	}
	item := &Item{ID: serial.String(), Certificate: cert, Key: key, PublicKey: cert.PublicKey}
	return &Keyset{Name: name, Primary: item}, nil
}

// NewKeyOnlyKeyset creates a keyset whose primary item is a bare RSA 2048
// key with no certificate: the service-account signing key, whose public
// half the apiserver uses to verify tokens.
func NewKeyOnlyKeyset(name string) (*Keyset, error) {
	if err := validateKeysetName(name); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, serviceAccountKeyBits)
	if err != nil {
		return nil, fmt.Errorf("keyset %q: generating RSA key: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("keyset %q: %w", name, err)
	}
	item := &Item{ID: serial.String(), Key: key, PublicKey: key.Public()}
	return &Keyset{Name: name, Primary: item}, nil
}

func newECDSAKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA P-256 key: %w", err)
	}
	return key, nil
}

// newSerial returns a random, positive, non-zero 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generating serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bit string (RFC 5280
// section 4.2.1.2, method 1), as openssl and Go compute it for CAs.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decoding public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
