package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hullproject/hull/internal/testproc"
	"github.com/hullproject/hull/pkg/pki"
)

// Timeouts of Start. A cold apiserver on a busy 2-core machine takes tens
// of seconds; the limits are generous so slow machines do not flake.
const (
	etcdReadyTimeout      = 60 * time.Second
	apiServerReadyTimeout = 120 * time.Second
	stopGrace             = 10 * time.Second
	startAttempts         = 3
	logTailLines          = 60
)

// EnvKeep=1 keeps the server's directory (certs, etcd data, logs) of a
// failed test and logs where it is.
const EnvKeep = "HULL_KUBETEST_KEEP"

// Server is a running etcd and kube-apiserver. Its processes are stopped,
// and its directory removed, when the test ends.
type Server struct {
	// URL is the apiserver, https://127.0.0.1:PORT.
	URL string
	// CA is the Kubernetes CA with its private key: client certificates
	// it signs are accepted by the apiserver (the CN is the user, O the groups).
	CA *pki.Keyset
	// EtcdURL is etcd's client URL (mTLS with a separate CA).
	EtcdURL string
	// Dir holds the certificates, etcd's data and the logs.
	Dir string
	// Binaries are the programs that run.
	Binaries *Binaries

	tb        testing.TB
	admin     *rest.Config
	etcd      *process
	apiServer *process

	startFailed bool // its logs were already reported

	clientOnce sync.Once
	client     kubernetes.Interface
	clientErr  error
}

// Option changes how Start runs the server.
type Option func(*options)

type options struct {
	apiServerFlags []string
}

// WithAPIServerFlags adds kube-apiserver flags (--name=value); a flag given
// here replaces the harness's value for it.
func WithAPIServerFlags(flags ...string) Option {
	return func(o *options) { o.apiServerFlags = append(o.apiServerFlags, flags...) }
}

var skipBanner sync.Once

// Start runs etcd and kube-apiserver and waits until the apiserver is
// ready (/readyz, and the kube-system namespace exists). Without binaries
// the test is skipped, or fails when $HULL_REQUIRE_ASSETS=1.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bins, err := FindBinaries()
	if err != nil {
		if os.Getenv(EnvRequireAssets) == "1" {
			tb.Fatalf("kubetest: %v ($%s=1, so this fails instead of skipping)", err, EnvRequireAssets)
		}
		msg := fmt.Sprintf("kubetest: SKIPPING tests that need a real kube-apiserver: %v. "+
			"Build the assets (`hull assets build --kubernetes-version 1.37.2`) or point $%s at a directory holding etcd and kube-apiserver; "+
			"set $%s=1 to make this a failure.", err, EnvAssetsBin, EnvRequireAssets)
		skipBanner.Do(func() { fmt.Fprintf(os.Stderr, "\n!!! %s\n\n", msg) })
		tb.Skip(msg)
	}
	for attempt := 1; ; attempt++ {
		s, retry, err := start(tb, bins, o)
		if err == nil {
			return s
		}
		if !retry || attempt == startAttempts {
			tb.Fatalf("kubetest: %v", err)
		}
		tb.Logf("kubetest: attempt %d: %v; retrying with other ports", attempt, err)
	}
}

// start makes one attempt; retry says a port was taken under it.
func start(tb testing.TB, bins *Binaries, o options) (s *Server, retry bool, err error) {
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, false, fmt.Errorf("create server directory: %w", err)
	}
	s = &Server{Dir: dir, Binaries: bins, tb: tb}
	tb.Cleanup(s.cleanup)
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, s.logTails())
			s.startFailed = true
			s.Stop()
		}
	}()

	c, err := issueCerts(dir)
	if err != nil {
		return s, false, err
	}
	s.CA = c.kubeCA
	ports, err := testproc.FreePorts(3)
	if err != nil {
		return s, false, err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	s.EtcdURL = "https://127.0.0.1:" + strconv.Itoa(etcdPort)
	s.URL = "https://127.0.0.1:" + strconv.Itoa(apiPort)

	s.etcd, err = startProcess("etcd", bins.Etcd, etcdArgs(dir, c, etcdPort, peerPort), filepath.Join(dir, "etcd.log"))
	if err != nil {
		return s, false, err
	}
	etcdTLS, err := clientTLS(c.etcdCAFile, c.etcdClientCert, c.etcdClientKey)
	if err != nil {
		return s, false, err
	}
	if err := waitHTTP(s.etcd, etcdTLS, s.EtcdURL+"/health", `"health":"true"`, etcdReadyTimeout); err != nil {
		return s, s.etcd.addressInUse(), fmt.Errorf("etcd at %s did not become healthy: %w", s.EtcdURL, err)
	}

	args := apiServerArgs(c, s.EtcdURL, apiPort, o.apiServerFlags)
	s.apiServer, err = startProcess("kube-apiserver", bins.APIServer, args, filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return s, false, err
	}
	s.admin, err = adminConfig(s.URL, c)
	if err != nil {
		return s, false, err
	}
	apiTLS, err := rest.TLSConfigFor(s.admin)
	if err != nil {
		return s, false, fmt.Errorf("admin TLS config: %w", err)
	}
	if err := waitHTTP(s.apiServer, apiTLS, s.URL+"/readyz", "ok", apiServerReadyTimeout); err != nil {
		return s, s.apiServer.addressInUse(), fmt.Errorf("kube-apiserver at %s did not become ready: %w", s.URL, err)
	}
	if err := s.waitNamespace("kube-system", 30*time.Second); err != nil {
		return s, false, err
	}
	return s, false, nil
}

func etcdArgs(dir string, c *certs, clientPort, peerPort int) []string {
	client := "https://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	return []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(dir, "etcd-data"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		// The peer port is bound even for one member; keep it private and free.
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
		"--cert-file=" + c.etcdServerCert,
		"--key-file=" + c.etcdServerKey,
		"--trusted-ca-file=" + c.etcdCAFile,
		"--client-cert-auth=true",
		// Durability does not matter to a test's throwaway data; speed does.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

func apiServerArgs(c *certs, etcdURL string, port int, extra []string) []string {
	flags := map[string]string{
		"--etcd-servers":                     etcdURL,
		"--etcd-cafile":                      c.etcdCAFile,
		"--etcd-certfile":                    c.etcdClientCert,
		"--etcd-keyfile":                     c.etcdClientKey,
		"--bind-address":                     "127.0.0.1",
		"--advertise-address":                "127.0.0.1",
		"--secure-port":                      strconv.Itoa(port),
		"--tls-cert-file":                    c.apiServerCert,
		"--tls-private-key-file":             c.apiServerKey,
		"--client-ca-file":                   c.kubeCAFile,
		"--service-account-issuer":           "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file":         c.serviceAccountPublicKey,
		"--service-account-signing-key-file": c.serviceAccountKey,
		"--service-cluster-ip-range":         serviceCIDR,
		"--authorization-mode":               "Node,RBAC",
		"--allow-privileged":                 "true",
		// No controller-manager creates the "default" service accounts.
		"--disable-admission-plugins": "ServiceAccount",
		// 127.0.0.1 is not a valid endpoint address for the kubernetes Service.
		"--endpoint-reconciler-type": "none",
		"--profiling":                "false",
	}
	for _, f := range extra {
		name, value, _ := strings.Cut(f, "=")
		flags[name] = value
	}
	args := make([]string, 0, len(flags))
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		args = append(args, name+"="+flags[name])
	}
	return args
}

func clientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg, err := rest.TLSConfigFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}})
	if err != nil {
		return nil, fmt.Errorf("kubetest: client TLS config: %w", err)
	}
	return cfg, nil
}

func adminConfig(url string, c *certs) (*rest.Config, error) {
	key, err := c.admin.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("kubetest: admin key: %w", err)
	}
	return &rest.Config{
		Host: url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.kubeCA.Primary.CertificatePEM(),
			CertData: c.admin.CertificatePEM(),
			KeyData:  key,
		},
		QPS:   100,
		Burst: 200,
	}, nil
}

// waitHTTP polls url until it answers 200 with a body containing want,
// failing early when the process exits.
func waitHTTP(p *process, tlsConfig *tls.Config, url, want string, timeout time.Duration) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	last := errors.New("no answer yet")
	var exited error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if done, err := p.exited(); done {
			exited = fmt.Errorf("%s %w: %v", p.name, errExited, err)
			return false, exited
		}
		resp, err := hc.Get(url)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), want) {
				return true, nil
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, lastLines(string(body), 15))
		}
		last = err
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case exited != nil:
		return exited
	}
	return fmt.Errorf("timed out after %s; last answer from %s: %v", timeout, url, last)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *Server) waitNamespace(name string, timeout time.Duration) error {
	client, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		return fmt.Errorf("kubetest: client: %w", err)
	}
	var lastErr error
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, lastErr = client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		return lastErr == nil, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s was not created within %s: %w", name, timeout, lastErr)
	}
	return nil
}

// RESTConfig is a copy of the admin's config: user AdminUser in
// system:masters, authenticated by a client certificate.
func (s *Server) RESTConfig() *rest.Config {
	return rest.CopyConfig(s.admin)
}

// Client is a clientset for the admin.
func (s *Server) Client() kubernetes.Interface {
	s.tb.Helper()
	s.clientOnce.Do(func() { s.client, s.clientErr = kubernetes.NewForConfig(s.RESTConfig()) })
	if s.clientErr != nil {
		s.tb.Fatalf("kubetest: admin client: %v", s.clientErr)
	}
	return s.client
}

// UserConfig is a config authenticating as user in groups, with a client
// certificate from CA; RBAC decides what it may do.
func (s *Server) UserConfig(user string, groups ...string) *rest.Config {
	s.tb.Helper()
	item, err := pki.IssueLeaf(s.CA, pki.LeafRequest{CommonName: user, Organization: groups, Usage: pki.ClientAuth, Validity: certValidity}, time.Now())
	if err != nil {
		s.tb.Fatalf("kubetest: issue a certificate for %s: %v", user, err)
	}
	key, err := item.KeyPEM()
	if err != nil {
		s.tb.Fatalf("kubetest: %v", err)
	}
	cfg := s.RESTConfig()
	cfg.CertData, cfg.KeyData = item.CertificatePEM(), key
	return cfg
}

// Stop ends the apiserver, then etcd. Tests may call it to see how code
// behaves when the API is gone; it is also run when the test ends.
func (s *Server) Stop() {
	if s.apiServer != nil {
		s.apiServer.stop(stopGrace)
	}
	if s.etcd != nil {
		s.etcd.stop(stopGrace)
	}
}

// LogTail is the last n lines of the apiserver's log, for test failures.
func (s *Server) LogTail(n int) string {
	if s.apiServer == nil {
		return ""
	}
	return s.apiServer.tail(n)
}

func (s *Server) logTails() string {
	var b strings.Builder
	for _, p := range []*process{s.etcd, s.apiServer} {
		if p == nil {
			continue
		}
		fmt.Fprintf(&b, "--- last %d lines of %s ---\n%s\n", logTailLines, p.logPath, p.tail(logTailLines))
	}
	return b.String()
}

// cleanup stops the processes; after a failed test it logs their output
// and, with $HULL_KUBETEST_KEEP=1, keeps the directory.
func (s *Server) cleanup() {
	report := s.tb.Failed() && s.apiServer != nil && !s.startFailed
	var tails string
	if report {
		tails = s.logTails() // before the shutdown's own lines
	}
	s.Stop()
	if report {
		s.tb.Logf("kubetest: the test failed; server logs:\n%s", tails)
		if os.Getenv(EnvKeep) == "1" {
			s.tb.Logf("kubetest: kept %s ($%s=1)", s.Dir, EnvKeep)
			return
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		s.tb.Logf("kubetest: remove %s: %v", s.Dir, err)
	}
}
