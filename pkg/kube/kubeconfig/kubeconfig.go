package kubeconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hullproject/hull/pkg/pki"
)

// Admin credentials.
const (
	// AdminUser is the common name of admin client certificates.
	AdminUser = "hull-admin"
	// AdminGroup is the group that RBAC lets do anything.
	AdminGroup = "system:masters"
	// DefaultAdminTTL is how long an exported admin certificate lasts, as
	// in kops: a working day, so a leaked kubeconfig soon stops working.
	DefaultAdminTTL = 18 * time.Hour
)

// Admin issues an admin client certificate (CN hull-admin, O
// system:masters) valid for ttl (DefaultAdminTTL when zero) from ca, and
// returns a kubeconfig whose cluster, user and context are all named
// clusterName, trusting ca's certificates, with server (host:port or an
// https URL) as the API endpoint, and its context current.
func Admin(ctx context.Context, ca *pki.Keyset, clusterName, server string, ttl time.Duration) (*clientcmdapi.Config, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if clusterName == "" {
		return nil, errors.New("admin kubeconfig: cluster name is required")
	}
	if ca == nil {
		return nil, fmt.Errorf("admin kubeconfig for %s: no CA given", clusterName)
	}
	if ttl < 0 {
		return nil, fmt.Errorf("admin kubeconfig for %s: validity must be positive, got %s", clusterName, ttl)
	}
	if ttl == 0 {
		ttl = DefaultAdminTTL
	}
	serverURL, err := ServerURL(server)
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig for %s: %w", clusterName, err)
	}
	leaf, err := pki.IssueLeaf(ca, pki.LeafRequest{
		CommonName:   AdminUser,
		Organization: []string{AdminGroup},
		Usage:        pki.ClientAuth,
		Validity:     ttl,
	}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig for %s: %w", clusterName, err)
	}
	key, err := leaf.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("admin kubeconfig for %s: %w", clusterName, err)
	}
	caData := trustBundle(ca)
	if len(caData) == 0 {
		return nil, fmt.Errorf("admin kubeconfig for %s: keyset %s has no CA certificate", clusterName, ca.Name)
	}

	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL
	cluster.CertificateAuthorityData = caData
	cfg.Clusters[clusterName] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = leaf.CertificatePEM()
	user.ClientKeyData = key
	cfg.AuthInfos[clusterName] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster, kctx.AuthInfo = clusterName, clusterName
	cfg.Contexts[clusterName] = kctx
	cfg.CurrentContext = clusterName
	return cfg, nil
}

// trustBundle is the PEM of the keyset's CA certificates, primary then
// next, so clients keep trusting the apiserver across a CA rotation.
func trustBundle(ca *pki.Keyset) []byte {
	var b bytes.Buffer
	for _, it := range []*pki.Item{ca.Primary, ca.Next} {
		if it != nil {
			b.Write(it.CertificatePEM())
		}
	}
	return b.Bytes()
}

// ServerURL turns host:port (a load balancer's address) into
// https://host:port; an https URL is returned as is.
func ServerURL(server string) (string, error) {
	if server == "" {
		return "", errors.New("API server address is empty")
	}
	s := server
	if u, err := url.Parse(server); err != nil || u.Scheme == "" || u.Host == "" {
		s = "https://" + server
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("API server address %q: %w", server, err)
	case u.Scheme != "https":
		return "", fmt.Errorf("API server address %q: want https, got %s", server, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("API server address %q has no host", server)
	}
	return u.String(), nil
}

// Write merges cfg into the kubeconfig file at path: clusters, users and
// contexts of the same names are replaced, all others kept. It creates the
// file (mode 0600, and its directory) when absent. With setCurrent, cfg's
// current context becomes the file's; otherwise the file's is kept, or set
// when it has none.
func Write(path string, cfg *clientcmdapi.Config, setCurrent bool) error {
	if path == "" {
		return errors.New("write kubeconfig: no path given")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	existing, err := clientcmd.LoadFromFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		existing = clientcmdapi.NewConfig()
	case err != nil:
		return fmt.Errorf("read kubeconfig %s to merge into it: %w", path, err)
	}
	for name, c := range cfg.Clusters {
		existing.Clusters[name] = c
	}
	for name, a := range cfg.AuthInfos {
		existing.AuthInfos[name] = a
	}
	for name, c := range cfg.Contexts {
		existing.Contexts[name] = c
	}
	if cfg.CurrentContext != "" && (setCurrent || existing.CurrentContext == "") {
		existing.CurrentContext = cfg.CurrentContext
	}
	// WriteToFile creates a new file 0600 and keeps an existing file's mode.
	if err := clientcmd.WriteToFile(*existing, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// lock takes the lock kubectl takes while it rewrites a kubeconfig: the
// file PATH.lock, created exclusively.
func lock(path string) (unlock func(), err error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("write kubeconfig %s: another program is writing it (%s exists; remove it if no kubectl or hull is running)", path, lockPath)
	}
	if err != nil {
		return nil, fmt.Errorf("write kubeconfig %s: lock: %w", path, err)
	}
	f.Close()
	return func() { os.Remove(lockPath) }, nil
}

// RESTConfig is the client configuration of cfg's current context.
func RESTConfig(cfg *clientcmdapi.Config) (*rest.Config, error) {
	if cfg == nil {
		return nil, errors.New("client config: no kubeconfig given")
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("client config from kubeconfig (context %q): %w", cfg.CurrentContext, err)
	}
	return rc, nil
}

// DefaultPath is where kubectl looks: the first file of $KUBECONFIG, else
// ~/.kube/config.
func DefaultPath() string {
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p != "" {
			return p
		}
	}
	return clientcmd.RecommendedHomeFile
}
