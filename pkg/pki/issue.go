package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Usage says what a leaf certificate is for. Values combine as bit flags.
type Usage uint8

// Leaf certificate usages.
const (
	// ServerAuth is for TLS servers (apiserver, kubelet, etcd).
	ServerAuth Usage = 1 << iota
	// ClientAuth is for TLS clients (kubelets, controllers, etcd clients).
	ClientAuth

	allUsages = ServerAuth | ClientAuth
)

func (u Usage) String() string {
	var parts []string
	if u&ServerAuth != 0 {
		parts = append(parts, "ServerAuth")
	}
	if u&ClientAuth != 0 {
		parts = append(parts, "ClientAuth")
	}
	if rest := u &^ allUsages; rest != 0 {
		parts = append(parts, fmt.Sprintf("Usage(%#x)", uint8(rest)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

func (u Usage) extKeyUsages() []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	if u&ServerAuth != 0 {
		out = append(out, x509.ExtKeyUsageServerAuth)
	}
	if u&ClientAuth != 0 {
		out = append(out, x509.ExtKeyUsageClientAuth)
	}
	return out
}

// DefaultLeafValidity is the validity of a leaf whose request leaves it zero.
const DefaultLeafValidity = 365 * 24 * time.Hour

// LeafRequest describes a leaf certificate to issue.
type LeafRequest struct {
	// CommonName is the identity: Kubernetes reads it as the user name,
	// e.g. "system:node:ip-1" or "system:kube-scheduler".
	CommonName string
	// Organization is read by Kubernetes as the groups, e.g. "system:nodes".
	Organization []string
	// DNSNames and IPAddresses are the subject alternative names; only a
	// certificate with ServerAuth may carry them, and it needs at least one,
	// because TLS clients ignore the common name.
	DNSNames    []string
	IPAddresses []net.IP
	// Usage is ServerAuth, ClientAuth or both.
	Usage Usage
	// Validity defaults to DefaultLeafValidity when zero.
	Validity time.Duration
}

// Validate reports every problem with the request at once.
func (r LeafRequest) Validate() error {
	var errs []error
	if r.CommonName == "" {
		errs = append(errs, errors.New("common name is required"))
	}
	for i, o := range r.Organization {
		if o == "" {
			errs = append(errs, fmt.Errorf("organization[%d] is empty", i))
		}
	}
	switch {
	case r.Usage == 0:
		errs = append(errs, errors.New("usage is required: ServerAuth, ClientAuth or both"))
	case r.Usage&^allUsages != 0:
		errs = append(errs, fmt.Errorf("usage %s has unknown bits", r.Usage))
	}
	hasSANs := len(r.DNSNames) > 0 || len(r.IPAddresses) > 0
	if r.Usage&ServerAuth == 0 && hasSANs {
		errs = append(errs, fmt.Errorf("DNS names and IP addresses are only allowed on server certificates (usage %s)", r.Usage))
	}
	if r.Usage&ServerAuth != 0 && !hasSANs {
		errs = append(errs, errors.New("a server certificate needs at least one DNS name or IP address (TLS clients ignore the common name)"))
	}
	for i, d := range r.DNSNames {
		if d == "" || strings.ContainsAny(d, " \t\n/:") {
			errs = append(errs, fmt.Errorf("DNS name [%d] %q is not a host name", i, d))
		}
	}
	for i, ip := range r.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			errs = append(errs, fmt.Errorf("IP address [%d] is invalid", i))
		}
	}
	if r.Validity < 0 {
		errs = append(errs, fmt.Errorf("validity must not be negative, got %s", r.Validity))
	}
	return errors.Join(errs...)
}

// IssueLeaf issues a new leaf certificate, with a new ECDSA P-256 key, signed
// by ca's primary item. The leaf is valid from now (less a few minutes of
// clock skew) for req.Validity, cut short so that it never outlives its CA.
func IssueLeaf(ca *Keyset, req LeafRequest, now time.Time) (*Item, error) {
	if ca == nil {
		return nil, errors.New("issuing leaf certificate: no CA keyset given")
	}
	signer, err := ca.signingItem()
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: invalid request: %w", req.CommonName, ca.Name, err)
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	notAfter := now.Add(validity).UTC()
	caCert := signer.Certificate
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("issuing %q from keyset %q: the CA expired at %s; rotate it", req.CommonName, ca.Name, caCert.NotAfter.Format(time.RFC3339))
	}

	key, err := newECDSAKey()
	if err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: %w", req.CommonName, ca.Name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: %w", req.CommonName, ca.Name, err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: %w", req.CommonName, ca.Name, err)
	}
	// KeyEncipherment matters only to RSA keys; it is kept, as kubeadm does,
	// so that stricter verifiers see the usual leaf key usage.
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   req.CommonName,
			Organization: append([]string(nil), req.Organization...),
		},
		NotBefore:             now.Add(-clockSkew).UTC(),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           req.Usage.extKeyUsages(),
		BasicConstraintsValid: true,
		DNSNames:              append([]string(nil), req.DNSNames...),
		IPAddresses:           append([]net.IP(nil), req.IPAddresses...),
		SubjectKeyId:          ski,
		AuthorityKeyId:        caCert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), signer.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: signing: %w", req.CommonName, ca.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issuing %q from keyset %q: parsing new certificate: %w", req.CommonName, ca.Name, err)
	}
	return &Item{ID: serial.String(), Certificate: cert, Key: key, PublicKey: cert.PublicKey}, nil
}

// signingItem is the primary item, checked to be a CA with its private key.
func (k *Keyset) signingItem() (*Item, error) {
	p := k.Primary
	switch {
	case p == nil:
		return nil, fmt.Errorf("keyset %q has no primary item to sign with", k.Name)
	case p.Certificate == nil:
		return nil, fmt.Errorf("keyset %q is a bare key, not a certificate authority: it cannot issue certificates", k.Name)
	case !p.Certificate.IsCA:
		return nil, fmt.Errorf("keyset %q primary item %s is not a CA certificate: it cannot issue certificates", k.Name, p.ID)
	case p.Key == nil:
		return nil, fmt.Errorf("keyset %q primary item %s has no private key (it was loaded from the public form); load the private form to issue certificates", k.Name, p.ID)
	}
	return p, nil
}
