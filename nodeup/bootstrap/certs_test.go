package bootstrap

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	certutil "k8s.io/client-go/util/cert"

	"github.com/hullproject/hull/pkg/pki"
)

func readCert(t *testing.T, root, p string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return certs[0]
}

func chains(c *x509.Certificate, ca *pki.Keyset) error {
	_, err := c.Verify(x509.VerifyOptions{Roots: ca.CertPool(), CurrentTime: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// TestIssuedCertificates applies the files phase of a control-plane
// machine and checks every certificate's issuer, identity and names.
func TestIssuedCertificates(t *testing.T) {
	e := newEnv(t)
	o, _ := e.options(t, testConfig("control-plane-a", "ControlPlane"), "i-cp1", "10.0.1.5")
	o.Phases = []string{"files"}
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	kube := e.keysets[pki.KubernetesCA]
	for _, tt := range []struct {
		file, ca, cn string
		org          []string
	}{
		{"apiserver", pki.KubernetesCA, "kube-apiserver", nil},
		{"apiserver-kubelet-client", pki.KubernetesCA, "kube-apiserver-kubelet-client", []string{"system:masters"}},
		{"front-proxy-client", pki.FrontProxyCA, "front-proxy-client", nil},
		{"controller-manager", pki.KubernetesCA, "system:kube-controller-manager", nil},
		{"scheduler", pki.KubernetesCA, "system:kube-scheduler", nil},
		{"admin", pki.KubernetesCA, "kubernetes-admin", []string{"system:masters"}},
		{"kubelet-client", pki.KubernetesCA, "system:node:i-cp1", []string{"system:nodes"}},
		{"apiserver-etcd-client-main", pki.EtcdClientsCA("main"), "kube-apiserver-etcd-client", nil},
		{"apiserver-etcd-client-events", pki.EtcdClientsCA("events"), "kube-apiserver-etcd-client", nil},
		{"etcd/main/server", pki.EtcdClientsCA("main"), "etcd-main-a", nil},
		{"etcd/main/peer", pki.EtcdPeersCA("main"), "etcd-main-a", nil},
		{"etcd/events/server", pki.EtcdClientsCA("events"), "etcd-events-a", nil},
		{"etcd/events/peer", pki.EtcdPeersCA("events"), "etcd-events-a", nil},
	} {
		t.Run(tt.file, func(t *testing.T) {
			c := readCert(t, o.Root, "/etc/kubernetes/pki/"+tt.file+".crt")
			if err := chains(c, e.keysets[tt.ca]); err != nil {
				t.Errorf("does not chain to %s: %v", tt.ca, err)
			}
			for name, ks := range e.keysets {
				if name != tt.ca && ks.Primary.Certificate != nil && chains(c, ks) == nil {
					t.Errorf("also chains to %s", name)
				}
			}
			if c.Subject.CommonName != tt.cn || !slices.Equal(c.Subject.Organization, tt.org) {
				t.Errorf("subject %s; want CN=%s O=%v", c.Subject, tt.cn, tt.org)
			}
			st, err := os.Stat(filepath.Join(o.Root, "/etc/kubernetes/pki/"+tt.file+".key"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key mode: %v %v; want 0600", st.Mode(), err)
			}
		})
	}

	// etcd's serving certificate is worthless under the Kubernetes CA.
	etcdServer := readCert(t, o.Root, "/etc/kubernetes/pki/etcd/main/server.crt")
	if chains(etcdServer, kube) == nil {
		t.Error("the etcd server certificate verifies against kubernetes-ca")
	}

	api := readCert(t, o.Root, "/etc/kubernetes/pki/apiserver.crt")
	var sans []string
	sans = append(sans, api.DNSNames...)
	for _, ip := range api.IPAddresses {
		sans = append(sans, ip.String())
	}
	slices.Sort(sans)
	want := []string{"10.0.1.1", "10.0.1.5", "100.64.0.1", "127.0.0.1", "api.demo.example.com", "i-cp1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}
	if diff := cmp.Diff(want, sans); diff != "" {
		t.Errorf("apiserver SANs (-want +got):\n%s", diff)
	}
	if err := api.VerifyHostname("kubernetes.default.svc"); err != nil {
		t.Error(err)
	}

	// Trust bundles: etcd events accepts the apiserver's main client
	// certificate, never a Kubernetes one.
	bundle, err := os.ReadFile(filepath.Join(o.Root, "/etc/kubernetes/pki/etcd/events/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(bundle), string(kube.Primary.CertificatePEM())) {
		t.Error("the events etcd client bundle holds kubernetes-ca")
	}
}

// TestWorkerHasNoKeys: a worker gets the Kubernetes CA certificate and no
// private key at all.
func TestWorkerHasNoKeys(t *testing.T) {
	e := newEnv(t)
	o, _ := e.options(t, testConfig("nodes-a", "Node"), "i-n1", "10.0.1.6")
	o.Phases = []string{"files"}
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var files []string
	_ = filepath.Walk(o.Root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, strings.TrimPrefix(p, o.Root))
		}
		return nil
	})
	want := []string{"/etc/containerd/certs.d/_default/hosts.toml", "/etc/hull/containerd.toml", "/etc/kubernetes/pki/ca.crt", "/var/lib/kubelet/config.yaml"}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files of a worker (-want +got):\n%s", diff)
	}
}
