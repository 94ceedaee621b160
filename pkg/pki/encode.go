package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/yaml"
)

// The document format of a keyset: one YAML document, PEM inside.
//
//	apiVersion: hull.dev/v1alpha1
//	kind: Keyset
//	name: kubernetes-ca
//	primary:
//	  id: "1234..."
//	  certificate: |
//	    -----BEGIN CERTIFICATE-----
//	  privateKey: |            # private form only
//	    -----BEGIN PRIVATE KEY-----
//	next: ...                  # optional, same shape
//
// A bare key has publicKey instead of certificate. Private keys are PKCS #8.
const (
	keysetAPIVersion = "hull.dev/v1alpha1"
	keysetKind       = "Keyset"
)

// PEM block types.
const (
	pemCertificate  = "CERTIFICATE"
	pemPublicKey    = "PUBLIC KEY"
	pemPrivateKey   = "PRIVATE KEY"
	pemRSAPrivate   = "RSA PRIVATE KEY"
	pemECPrivateKey = "EC PRIVATE KEY"
)

type keysetDoc struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Primary    *itemDoc `json:"primary"`
	Next       *itemDoc `json:"next,omitempty"`
}

type itemDoc struct {
	ID          string `json:"id"`
	Certificate string `json:"certificate,omitempty"`
	PublicKey   string `json:"publicKey,omitempty"`
	PrivateKey  string `json:"privateKey,omitempty"`
}

// MarshalPublic encodes the keyset with certificates and public keys only:
// safe to hand to anything that must trust the keyset.
func (k *Keyset) MarshalPublic() ([]byte, error) { return k.marshal(false) }

// MarshalPrivate encodes the keyset with its private keys. Every item must
// have its private key.
func (k *Keyset) MarshalPrivate() ([]byte, error) { return k.marshal(true) }

func (k *Keyset) marshal(private bool) ([]byte, error) {
	if err := validateKeysetName(k.Name); err != nil {
		return nil, fmt.Errorf("encoding keyset: %w", err)
	}
	if k.Primary == nil {
		return nil, fmt.Errorf("encoding keyset %q: it has no primary item", k.Name)
	}
	doc := keysetDoc{APIVersion: keysetAPIVersion, Kind: keysetKind, Name: k.Name}
	for _, ri := range k.items() {
		d, err := ri.item.doc(private)
		if err != nil {
			return nil, fmt.Errorf("encoding keyset %q %s item %s: %w", k.Name, ri.role, ri.item.ID, err)
		}
		if ri.role == RolePrimary {
			doc.Primary = d
		} else {
			doc.Next = d
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding keyset %q: %w", k.Name, err)
	}
	return out, nil
}

func (i *Item) doc(private bool) (*itemDoc, error) {
	if i.ID == "" {
		return nil, errors.New("item has no ID")
	}
	d := &itemDoc{ID: i.ID}
	if i.Certificate != nil {
		d.Certificate = string(i.CertificatePEM())
	} else {
		pub, err := i.PublicKeyPEM()
		if err != nil {
			return nil, err
		}
		d.PublicKey = string(pub)
	}
	if private {
		key, err := i.KeyPEM()
		if err != nil {
			return nil, err
		}
		d.PrivateKey = string(key)
	}
	return d, nil
}

// ParseKeyset decodes a keyset in either its public or its private form.
// It checks that each item's ID is its certificate's serial and that each
// private key matches its certificate or public key.
func ParseKeyset(data []byte) (*Keyset, error) {
	var doc keysetDoc
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing keyset: %w", err)
	}
	if err := validateKeysetName(doc.Name); err != nil {
		return nil, fmt.Errorf("parsing keyset: %w", err)
	}
	if doc.Kind != keysetKind {
		return nil, fmt.Errorf("parsing keyset %q: kind is %q, want %q", doc.Name, doc.Kind, keysetKind)
	}
	if doc.APIVersion != keysetAPIVersion {
		return nil, fmt.Errorf("parsing keyset %q: apiVersion is %q, want %q", doc.Name, doc.APIVersion, keysetAPIVersion)
	}
	if doc.Primary == nil {
		return nil, fmt.Errorf("parsing keyset %q: primary item is required", doc.Name)
	}
	ks := &Keyset{Name: doc.Name}
	var err error
	if ks.Primary, err = parseItem(doc.Primary); err != nil {
		return nil, fmt.Errorf("parsing keyset %q primary item %s: %w", doc.Name, doc.Primary.ID, err)
	}
	if doc.Next != nil {
		if ks.Next, err = parseItem(doc.Next); err != nil {
			return nil, fmt.Errorf("parsing keyset %q next item %s: %w", doc.Name, doc.Next.ID, err)
		}
	}
	return ks, nil
}

func parseItem(d *itemDoc) (*Item, error) {
	if d.ID == "" {
		return nil, errors.New("id is required")
	}
	item := &Item{ID: d.ID}
	if d.Certificate != "" {
		cert, err := parseCertificatePEM([]byte(d.Certificate))
		if err != nil {
			return nil, fmt.Errorf("certificate: %w", err)
		}
		if cert.SerialNumber.String() != d.ID {
			return nil, fmt.Errorf("id does not match the certificate's serial number %s", cert.SerialNumber)
		}
		item.Certificate = cert
		item.PublicKey = cert.PublicKey
	}
	if d.PublicKey != "" {
		pub, err := parsePublicKeyPEM([]byte(d.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("publicKey: %w", err)
		}
		if item.PublicKey != nil && !publicKeysEqual(item.PublicKey, pub) {
			return nil, errors.New("publicKey does not match the certificate")
		}
		item.PublicKey = pub
	}
	if d.PrivateKey != "" {
		key, err := parsePrivateKeyPEM([]byte(d.PrivateKey))
		if err != nil {
			return nil, fmt.Errorf("privateKey: %w", err)
		}
		if item.PublicKey == nil {
			item.PublicKey = key.Public()
		} else if !publicKeysEqual(item.PublicKey, key.Public()) {
			what := "publicKey"
			if item.Certificate != nil {
				what = "certificate"
			}
			return nil, fmt.Errorf("privateKey does not match the %s", what)
		}
		item.Key = key
	}
	if item.PublicKey == nil {
		return nil, errors.New("item has no certificate, publicKey or privateKey")
	}
	return item, nil
}

// CertificatePEM is the item's certificate in PEM, or nil for a bare key.
func (i *Item) CertificatePEM() []byte {
	if i.Certificate == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemCertificate, Bytes: i.Certificate.Raw})
}

// KeyPEM is the item's private key as a PKCS #8 "PRIVATE KEY" PEM block,
// which Kubernetes components, etcd and Go's crypto/tls all read.
func (i *Item) KeyPEM() ([]byte, error) {
	if i.Key == nil {
		return nil, fmt.Errorf("item %s has no private key (loaded from the public form)", i.ID)
	}
	der, err := x509.MarshalPKCS8PrivateKey(i.Key)
	if err != nil {
		return nil, fmt.Errorf("item %s: encoding private key: %w", i.ID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// PublicKeyPEM is the item's public key as a PKIX "PUBLIC KEY" PEM block,
// the form kube-apiserver's --service-account-key-file reads.
func (i *Item) PublicKeyPEM() ([]byte, error) {
	if i.PublicKey == nil {
		return nil, fmt.Errorf("item %s has no public key", i.ID)
	}
	der, err := x509.MarshalPKIXPublicKey(i.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("item %s: encoding public key: %w", i.ID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: der}), nil
}

// TLSCertificate pairs the item's certificate with its private key for
// crypto/tls.
func (i *Item) TLSCertificate() (tls.Certificate, error) {
	if i.Certificate == nil {
		return tls.Certificate{}, fmt.Errorf("item %s is a bare key with no certificate", i.ID)
	}
	if i.Key == nil {
		return tls.Certificate{}, fmt.Errorf("item %s has no private key (loaded from the public form)", i.ID)
	}
	return tls.Certificate{
		Certificate: [][]byte{i.Certificate.Raw},
		PrivateKey:  i.Key,
		Leaf:        i.Certificate,
	}, nil
}

// singlePEM decodes exactly one PEM block of one of the wanted types: the
// keyset document allows no more, which client-go's parsers do not check.
func singlePEM(data []byte, types ...string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("unexpected data after the %s PEM block", block.Type)
	}
	for _, t := range types {
		if block.Type == t {
			return block, nil
		}
	}
	return nil, fmt.Errorf("PEM block type is %q, want %q", block.Type, types[0])
}

func parseCertificatePEM(data []byte) (*x509.Certificate, error) {
	if _, err := singlePEM(data, pemCertificate); err != nil {
		return nil, err
	}
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return certs[0], nil
}

func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, err := singlePEM(data, pemPublicKey)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	return pub, nil
}

// parsePrivateKeyPEM reads PKCS #8, and for hand-made keysets PKCS #1 (RSA)
// and SEC 1 (EC) keys.
func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, err := singlePEM(data, pemPrivateKey, pemRSAPrivate, pemECPrivateKey)
	if err != nil {
		return nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
}
