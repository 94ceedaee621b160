package kubeconfig_test

import (
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"

	"github.com/hullproject/hull/pkg/kube/kubeconfig"
	"github.com/hullproject/hull/pkg/kube/kubetest"
	"github.com/hullproject/hull/pkg/pki"
)

const cluster = "demo.example.com"

func newCA(t *testing.T) *pki.Keyset {
	t.Helper()
	ca, err := pki.NewCAKeyset(pki.KubernetesCA, "kubernetes-ca@test", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestAdmin(t *testing.T) {
	ca := newCA(t)
	before := time.Now()
	cfg, err := kubeconfig.Admin(context.Background(), ca, cluster, "10.123.0.2:443", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != cluster {
		t.Errorf("current context = %q, want %q", cfg.CurrentContext, cluster)
	}
	c, u, k := cfg.Clusters[cluster], cfg.AuthInfos[cluster], cfg.Contexts[cluster]
	if c == nil || u == nil || k == nil {
		t.Fatalf("cluster, user and context named %s: got %v %v %v", cluster, c, u, k)
	}
	if c.Server != "https://10.123.0.2:443" {
		t.Errorf("server = %q", c.Server)
	}
	if k.Cluster != cluster || k.AuthInfo != cluster {
		t.Errorf("context = %+v", k)
	}
	if got := parseCert(t, c.CertificateAuthorityData); !got.Equal(ca.Primary.Certificate) {
		t.Error("certificate-authority-data is not the CA certificate")
	}
	leaf := parseCert(t, u.ClientCertificateData)
	if leaf.Subject.CommonName != "hull-admin" || !slices.Equal(leaf.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject = %s, want CN=hull-admin,O=system:masters", leaf.Subject)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ext key usage = %v, want client auth only", leaf.ExtKeyUsage)
	}
	if want := before.Add(2 * time.Hour); leaf.NotAfter.Before(want.Add(-time.Minute)) || leaf.NotAfter.After(want.Add(time.Minute)) {
		t.Errorf("NotAfter = %s, want about %s", leaf.NotAfter, want)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not chain to the CA: %v", err)
	}

	def, err := kubeconfig.Admin(context.Background(), ca, cluster, "10.123.0.2:443", 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf = parseCert(t, def.AuthInfos[cluster].ClientCertificateData)
	if got := leaf.NotAfter.Sub(before).Round(time.Hour); got != kubeconfig.DefaultAdminTTL {
		t.Errorf("default validity = %s, want %s", got, kubeconfig.DefaultAdminTTL)
	}

	for _, tc := range []struct {
		name, server string
		ttl          time.Duration
		ca           *pki.Keyset
	}{
		{"no server", "", time.Hour, ca},
		{"http server", "http://10.0.0.1:443", time.Hour, ca},
		{"negative ttl", "10.0.0.1:443", -time.Hour, ca},
		{"no CA", "10.0.0.1:443", time.Hour, nil},
	} {
		if _, err := kubeconfig.Admin(context.Background(), tc.ca, cluster, tc.server, tc.ttl); err == nil {
			t.Errorf("%s: Admin succeeded", tc.name)
		}
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:443":                "https://10.0.0.1:443",
		"api.demo.example.com:6443":   "https://api.demo.example.com:6443",
		"https://127.0.0.1:34567":     "https://127.0.0.1:34567",
		"[fd00::1]:443":               "https://[fd00::1]:443",
		"https://api.example.com/sub": "https://api.example.com/sub",
	} {
		got, err := kubeconfig.ServerURL(in)
		if err != nil || got != want {
			t.Errorf("ServerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// otherConfig is a kubeconfig the user already had.
func otherConfig() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["other"] = &clientcmdapi.Cluster{Server: "https://other.example.com"}
	cfg.AuthInfos["other"] = &clientcmdapi.AuthInfo{Token: "other-token"}
	cfg.Contexts["other"] = &clientcmdapi.Context{Cluster: "other", AuthInfo: "other"}
	// A stale entry of the cluster being exported, to be replaced.
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: "https://stale.example.com"}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{Token: "stale"}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster, Namespace: "stale"}
	cfg.CurrentContext = "other"
	return cfg
}

func TestWrite(t *testing.T) {
	cfg, err := kubeconfig.Admin(context.Background(), newCA(t), cluster, "10.123.0.2:443", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("creates the file 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new", ".kube", "config")
		if err := kubeconfig.Write(path, cfg, false); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", st.Mode().Perm())
		}
		got, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.CurrentContext != cluster {
			t.Errorf("current context of a new file = %q, want %q", got.CurrentContext, cluster)
		}
	})

	for _, setCurrent := range []bool{true, false} {
		name := map[bool]string{true: "merge and switch context", false: "merge and keep context"}[setCurrent]
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := clientcmd.WriteToFile(*otherConfig(), path); err != nil {
				t.Fatal(err)
			}
			if err := kubeconfig.Write(path, cfg, setCurrent); err != nil {
				t.Fatal(err)
			}
			got, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantCurrent := map[bool]string{true: cluster, false: "other"}[setCurrent]
			if got.CurrentContext != wantCurrent {
				t.Errorf("current context = %q, want %q", got.CurrentContext, wantCurrent)
			}
			if got.AuthInfos["other"] == nil || got.AuthInfos["other"].Token != "other-token" || got.Contexts["other"] == nil || got.Clusters["other"] == nil {
				t.Error("the other cluster's entries were not kept")
			}
			if diff := cmp.Diff(cfg.Clusters[cluster].CertificateAuthorityData, got.Clusters[cluster].CertificateAuthorityData); diff != "" || got.Clusters[cluster].Server != "https://10.123.0.2:443" {
				t.Errorf("cluster entry not replaced: %+v", got.Clusters[cluster])
			}
			if u := got.AuthInfos[cluster]; u.Token != "" || len(u.ClientCertificateData) == 0 {
				t.Errorf("user entry not replaced: token %q", u.Token)
			}
			if got.Contexts[cluster].Namespace != "" {
				t.Errorf("context entry not replaced: %+v", got.Contexts[cluster])
			}
			if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
				t.Errorf("lock file left behind: %v", err)
			}
		})
	}

	t.Run("refuses while another writer holds the lock", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := kubeconfig.Write(path, cfg, true); err == nil || !strings.Contains(err.Error(), ".lock") {
			t.Fatalf("Write() = %v, want a lock error", err)
		}
	})
}

// TestAgainstAPIServer uses written kubeconfigs against a real apiserver.
func TestAgainstAPIServer(t *testing.T) {
	s := kubetest.Start(t)
	ctx := context.Background()

	cfg, err := kubeconfig.Admin(ctx, s.CA, cluster, s.URL, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*otherConfig(), path); err != nil {
		t.Fatal(err)
	}
	if err := kubeconfig.Write(path, cfg, true); err != nil {
		t.Fatal(err)
	}

	t.Run("the written file lists namespaces as system:masters", func(t *testing.T) {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		listNamespaces(t, kubernetes.NewForConfigOrDie(rc))
	})

	t.Run("RESTConfig of the in-memory config", func(t *testing.T) {
		rc, err := kubeconfig.RESTConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		listNamespaces(t, kubernetes.NewForConfigOrDie(rc))
	})

	t.Run("stock kubectl", func(t *testing.T) {
		kubectl := filepath.Join(filepath.Dir(s.Binaries.APIServer), "kubectl")
		if _, err := os.Stat(kubectl); err != nil {
			t.Skipf("no kubectl next to kube-apiserver: %v", err)
		}
		out, err := exec.Command(kubectl, "--kubeconfig", path, "get", "namespaces", "-o", "name").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "namespace/kube-system") {
			t.Fatalf("kubectl get namespaces: %v\n%s", err, out)
		}
	})

	t.Run("a certificate from another CA is refused", func(t *testing.T) {
		foreign, err := kubeconfig.Admin(ctx, newCA(t), cluster, s.URL, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// Trust the real server, so that the apiserver is what refuses.
		foreign.Clusters[cluster].CertificateAuthorityData = cfg.Clusters[cluster].CertificateAuthorityData
		rc, err := kubeconfig.RESTConfig(foreign)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kubernetes.NewForConfigOrDie(rc).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if !apierrors.IsUnauthorized(err) {
			t.Fatalf("list namespaces with a foreign certificate: got %v, want Unauthorized", err)
		}
	})

	t.Run("a kubeconfig trusting another CA refuses the server", func(t *testing.T) {
		foreign, err := kubeconfig.Admin(ctx, newCA(t), cluster, s.URL, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := kubeconfig.RESTConfig(foreign)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kubernetes.NewForConfigOrDie(rc).CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("list namespaces: got %v, want a certificate verification error", err)
		}
	})
}

func listNamespaces(t *testing.T, c kubernetes.Interface) {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	if !slices.ContainsFunc(ns.Items, func(n corev1.Namespace) bool { return n.Name == "kube-system" }) {
		t.Errorf("kube-system not among %d namespaces", len(ns.Items))
	}
}
