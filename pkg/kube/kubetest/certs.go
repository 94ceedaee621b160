package kubetest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hullproject/hull/pkg/pki"
)

// certValidity is long enough for any test run.
const certValidity = 24 * time.Hour

// AdminUser is the identity of Server.RESTConfig: a member of system:masters.
const AdminUser = "kubetest-admin"

// certs are the keys and certificates of one server, as files.
type certs struct {
	kubeCA *pki.Keyset
	admin  *pki.Item

	kubeCAFile, etcdCAFile                     string
	etcdServerCert, etcdServerKey              string
	etcdClientCert, etcdClientKey              string
	apiServerCert, apiServerKey                string
	serviceAccountKey, serviceAccountPublicKey string
}

// serviceIP is the first address of the service range, the apiserver's own
// "kubernetes" Service.
const (
	serviceCIDR = "10.0.0.0/24"
	serviceIP   = "10.0.0.1"
)

// issueCerts makes a Kubernetes CA and an etcd clients CA (kept apart as in
// a real cluster), etcd and apiserver serving certificates for 127.0.0.1,
// the apiserver's etcd client certificate, the service-account key and an
// admin client certificate, and writes them under dir.
func issueCerts(dir string) (*certs, error) {
	now := time.Now()
	kubeCA, err := pki.NewCAKeyset(pki.KubernetesCA, pki.KubernetesCA+"@kubetest", now, certValidity)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	etcdCA, err := pki.NewCAKeyset(pki.EtcdClientsCA("main"), pki.EtcdClientsCA("main")+"@kubetest", now, certValidity)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	c := &certs{kubeCA: kubeCA}
	leaves := []leafSpec{
		{etcdCA, pki.LeafRequest{CommonName: "etcd", DNSNames: []string{"localhost"}, IPAddresses: loopback, Usage: pki.ServerAuth | pki.ClientAuth}, "etcd-server", &c.etcdServerCert, &c.etcdServerKey},
		{etcdCA, pki.LeafRequest{CommonName: "kube-apiserver-etcd-client", Usage: pki.ClientAuth}, "apiserver-etcd-client", &c.etcdClientCert, &c.etcdClientKey},
		{kubeCA, pki.LeafRequest{
			CommonName:  "kube-apiserver",
			DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: append(loopback, net.ParseIP(serviceIP)),
			Usage:       pki.ServerAuth,
		}, "apiserver", &c.apiServerCert, &c.apiServerKey},
	}
	for _, l := range leaves {
		l.req.Validity = certValidity
		item, err := pki.IssueLeaf(l.ca, l.req, now)
		if err != nil {
			return nil, fmt.Errorf("kubetest: %w", err)
		}
		if *l.cert, *l.key, err = writePair(dir, l.base, item); err != nil {
			return nil, err
		}
	}
	c.admin, err = pki.IssueLeaf(kubeCA, pki.LeafRequest{CommonName: AdminUser, Organization: []string{"system:masters"}, Usage: pki.ClientAuth, Validity: certValidity}, now)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	if c.kubeCAFile, err = writeFile(dir, "kubernetes-ca.crt", kubeCA.Primary.CertificatePEM()); err != nil {
		return nil, err
	}
	if c.etcdCAFile, err = writeFile(dir, "etcd-ca.crt", etcdCA.Primary.CertificatePEM()); err != nil {
		return nil, err
	}
	sa, err := pki.NewKeyOnlyKeyset(pki.ServiceAccount)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	saKey, err := sa.Primary.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	saPub, err := sa.Primary.PublicKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	if c.serviceAccountKey, err = writeFile(dir, "sa.key", saKey); err != nil {
		return nil, err
	}
	if c.serviceAccountPublicKey, err = writeFile(dir, "sa.pub", saPub); err != nil {
		return nil, err
	}
	return c, nil
}

// leafSpec is one leaf to issue and where its file paths go.
type leafSpec struct {
	ca        *pki.Keyset
	req       pki.LeafRequest
	base      string
	cert, key *string
}

func writePair(dir, base string, item *pki.Item) (certPath, keyPath string, err error) {
	key, err := item.KeyPEM()
	if err != nil {
		return "", "", fmt.Errorf("kubetest: %s: %w", base, err)
	}
	if certPath, err = writeFile(dir, base+".crt", item.CertificatePEM()); err != nil {
		return "", "", err
	}
	if keyPath, err = writeFile(dir, base+".key", key); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

func writeFile(dir, name string, data []byte) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return "", fmt.Errorf("kubetest: write %s: %w", p, err)
	}
	return p, nil
}
