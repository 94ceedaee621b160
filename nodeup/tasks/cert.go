package tasks

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/hullproject/hull/pkg/pki"
)

// RenewBefore is how long before expiry a certificate is reissued.
const RenewBefore = 30 * 24 * time.Hour

// Cert issues a leaf certificate from a CA keyset into a certificate file
// and a key file (0600). An existing pair is kept while it chains to the
// CA, has the requested identity, names and usages, matches its key and
// is not about to expire: so a second run changes nothing, and a changed
// SAN list or a rotated CA reissues.
type Cert struct {
	TaskName  string
	TaskPhase string
	Root      string
	CertPath  string
	KeyPath   string
	CA        *pki.Keyset
	Request   pki.LeafRequest
	Now       func() time.Time
}

func (c *Cert) Name() string  { return c.TaskName }
func (c *Cert) Phase() string { return c.TaskPhase }

func (c *Cert) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Details describes the certificate for a plan.
func (c *Cert) details() []string {
	r := c.Request
	d := []string{fmt.Sprintf("%s + %s (key 0600), issuer %s", c.CertPath, c.KeyPath, c.CA.Name)}
	id := "CN=" + r.CommonName
	if len(r.Organization) > 0 {
		id += " O=" + strings.Join(r.Organization, ",")
	}
	d = append(d, id+" usage "+r.Usage.String())
	if sans := sanStrings(r.DNSNames, r.IPAddresses); len(sans) > 0 {
		d = append(d, "SANs "+strings.Join(sans, ","))
	}
	return d
}

func (c *Cert) Check(ctx context.Context) (Change, error) {
	d := c.details()
	reason, err := c.problem()
	if errors.Is(err, fs.ErrNotExist) {
		return Change{Action: Create, Details: d}, nil
	}
	if err != nil {
		return Change{}, err
	}
	if reason != "" {
		return Change{Action: Update, Reason: reason, Details: d}, nil
	}
	return Change{Action: Unchanged, Details: d}, nil
}

// problem says what is wrong with the existing pair, "" if nothing.
func (c *Cert) problem() (string, error) {
	certPEM, err := os.ReadFile(filepath.Join(c.Root, c.CertPath))
	if err != nil {
		return "", err
	}
	keyPEM, err := os.ReadFile(filepath.Join(c.Root, c.KeyPath))
	if err != nil {
		return "", err
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return "unreadable certificate: " + err.Error(), nil
	}
	cert := certs[0]
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return "unreadable key: " + err.Error(), nil
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return fmt.Sprintf("unreadable key: %T is not a signing key", key), nil
	}
	if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return "key does not match the certificate", nil
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: c.CA.CertPool(), CurrentTime: c.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "does not chain to " + c.CA.Name, nil
	}
	r := c.Request
	if cert.Subject.CommonName != r.CommonName || !sameSet(cert.Subject.Organization, r.Organization) {
		return "identity differs: have " + cert.Subject.String(), nil
	}
	if !sameSet(sanStrings(cert.DNSNames, cert.IPAddresses), sanStrings(r.DNSNames, r.IPAddresses)) {
		return "SANs differ", nil
	}
	if !slices.Equal(cert.ExtKeyUsage, usages(r.Usage)) {
		return "usages differ", nil
	}
	if left := cert.NotAfter.Sub(c.now()); left < RenewBefore {
		return fmt.Sprintf("expires in %s", left.Round(time.Hour)), nil
	}
	return "", nil
}

func (c *Cert) Apply(context.Context) error {
	leaf, err := pki.IssueLeaf(c.CA, c.Request, c.now())
	if err != nil {
		return err
	}
	key, err := leaf.KeyPEM()
	if err != nil {
		return err
	}
	// Key first: a crash between the two leaves a mismatched pair that the
	// next run detects and reissues, never a new cert beside an old key
	// that goes unnoticed.
	if err := WriteFileAtomic(filepath.Join(c.Root, c.KeyPath), key, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(c.Root, c.CertPath), leaf.CertificatePEM(), 0o644)
}

func usages(u pki.Usage) []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	if u&pki.ServerAuth != 0 {
		out = append(out, x509.ExtKeyUsageServerAuth)
	}
	if u&pki.ClientAuth != 0 {
		out = append(out, x509.ExtKeyUsageClientAuth)
	}
	return out
}

func sanStrings(dns []string, ips []net.IP) []string {
	out := slices.Clone(dns)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// BundlePEM is the trust bundle of one or more keysets: the certificates
// of their primary and next items, in order.
func BundlePEM(keysets ...*pki.Keyset) []byte {
	var out []byte
	for _, ks := range keysets {
		for _, it := range []*pki.Item{ks.Primary, ks.Next} {
			if it != nil && it.Certificate != nil {
				out = append(out, it.CertificatePEM()...)
			}
		}
	}
	return out
}
