package pki

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// verify checks that leaf chains to ca for usage at testNow.
func verify(leaf *Item, ca *Keyset, usage x509.ExtKeyUsage) error {
	_, err := leaf.Certificate.Verify(x509.VerifyOptions{
		Roots:       ca.CertPool(),
		CurrentTime: testNow,
		KeyUsages:   []x509.ExtKeyUsage{usage},
	})
	return err
}

// leafFacts is what a test checks of an issued leaf.
type leafFacts struct {
	CN           string
	O            []string
	DNS          []string
	IPs          []string
	ExtKeyUsage  []x509.ExtKeyUsage
	KeyUsage     x509.KeyUsage
	IsCA         bool
	NotBefore    time.Time
	NotAfter     time.Time
	IDIsSerial   bool
	AKIIsCAsSKI  bool
	HasSKI       bool
	SerialBits64 bool
}

func factsOf(leaf *Item, ca *Keyset) leafFacts {
	c := leaf.Certificate
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	return leafFacts{
		CN: c.Subject.CommonName, O: c.Subject.Organization, DNS: c.DNSNames, IPs: ips,
		ExtKeyUsage: c.ExtKeyUsage, KeyUsage: c.KeyUsage, IsCA: c.IsCA,
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		IDIsSerial:   leaf.ID == c.SerialNumber.String(),
		AKIIsCAsSKI:  string(c.AuthorityKeyId) == string(ca.Primary.Certificate.SubjectKeyId),
		HasSKI:       len(c.SubjectKeyId) == 20,
		SerialBits64: c.SerialNumber.BitLen() > 64,
	}
}

func TestIssueLeaf(t *testing.T) {
	kubeCA := mustCA(t, "kubernetes-ca")
	etcdCA := mustCA(t, "etcd-clients-ca-main")
	const leafKU = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	base := leafFacts{
		KeyUsage: leafKU, NotBefore: testNow.Add(-5 * time.Minute), NotAfter: testNow.Add(365 * 24 * time.Hour),
		IDIsSerial: true, AKIIsCAsSKI: true, HasSKI: true, SerialBits64: true,
	}
	with := func(f func(*leafFacts)) leafFacts { w := base; f(&w); return w }
	tests := []struct {
		desc     string
		ca       *Keyset
		other    *Keyset // a CA the leaf must not verify against
		req      LeafRequest
		verifyAs []x509.ExtKeyUsage
		want     leafFacts
	}{
		{
			desc: "kubelet client", ca: kubeCA, other: etcdCA,
			req:      LeafRequest{CommonName: "system:node:ip-1", Organization: []string{"system:nodes"}, Usage: ClientAuth},
			verifyAs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			want: with(func(w *leafFacts) {
				w.CN, w.O, w.ExtKeyUsage = "system:node:ip-1", []string{"system:nodes"}, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			}),
		},
		{
			desc: "scheduler, 30 days", ca: kubeCA, other: etcdCA,
			req:      LeafRequest{CommonName: "system:kube-scheduler", Usage: ClientAuth, Validity: 30 * 24 * time.Hour},
			verifyAs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			want: with(func(w *leafFacts) {
				w.CN, w.ExtKeyUsage, w.NotAfter = "system:kube-scheduler", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, testNow.Add(30*24*time.Hour)
			}),
		},
		{
			desc: "apiserver serving", ca: kubeCA, other: etcdCA,
			req: LeafRequest{
				CommonName:  "kube-apiserver",
				DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "api.demo.example.com"},
				IPAddresses: []net.IP{net.ParseIP("100.64.0.1"), net.ParseIP("127.0.0.1"), net.ParseIP("fd00::1")},
				Usage:       ServerAuth,
			},
			verifyAs: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			want: with(func(w *leafFacts) {
				w.CN, w.ExtKeyUsage = "kube-apiserver", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
				w.DNS = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "api.demo.example.com"}
				w.IPs = []string{"100.64.0.1", "127.0.0.1", "fd00::1"}
			}),
		},
		{
			desc: "etcd server (serving and client)", ca: etcdCA, other: kubeCA,
			req: LeafRequest{
				CommonName: "etcd-a", DNSNames: []string{"etcd-a.internal.demo.example.com", "localhost"},
				IPAddresses: []net.IP{net.ParseIP("172.20.32.10")}, Usage: ServerAuth | ClientAuth,
			},
			verifyAs: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			want: with(func(w *leafFacts) {
				w.CN, w.DNS, w.IPs = "etcd-a", []string{"etcd-a.internal.demo.example.com", "localhost"}, []string{"172.20.32.10"}
				w.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			}),
		},
		{
			desc: "apiserver etcd client", ca: etcdCA, other: kubeCA,
			req:      LeafRequest{CommonName: "kube-apiserver-etcd-client", Usage: ClientAuth},
			verifyAs: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			want: with(func(w *leafFacts) {
				w.CN, w.ExtKeyUsage = "kube-apiserver-etcd-client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			leaf, err := IssueLeaf(tt.ca, tt.req, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, factsOf(leaf, tt.ca)); diff != "" {
				t.Errorf("leaf (-want +got):\n%s", diff)
			}
			for _, u := range tt.verifyAs {
				if err := verify(leaf, tt.ca, u); err != nil {
					t.Errorf("leaf does not verify against %s for usage %v: %v", tt.ca.Name, u, err)
				}
				if err := verify(leaf, tt.other, u); err == nil {
					t.Errorf("leaf verifies against %s, a CA that did not issue it", tt.other.Name)
				}
			}
			wrongUsage := x509.ExtKeyUsageServerAuth
			if tt.req.Usage&ServerAuth != 0 {
				wrongUsage = x509.ExtKeyUsageCodeSigning
			}
			if err := verify(leaf, tt.ca, wrongUsage); err == nil {
				t.Errorf("leaf verifies for usage %v it was not issued for", wrongUsage)
			}
			for _, name := range tt.req.DNSNames {
				if err := leaf.Certificate.VerifyHostname(name); err != nil {
					t.Errorf("VerifyHostname(%q): %v", name, err)
				}
			}
		})
	}
}

func TestIssueLeafClampsToCAExpiry(t *testing.T) {
	ca, err := NewCAKeyset("short-ca", "short-ca", testNow, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := IssueLeaf(ca, LeafRequest{CommonName: "x", Usage: ClientAuth}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.Certificate.NotAfter.Equal(ca.Primary.Certificate.NotAfter) {
		t.Errorf("leaf NotAfter = %s, want the CA's %s", leaf.Certificate.NotAfter, ca.Primary.Certificate.NotAfter)
	}
	_, err = IssueLeaf(ca, LeafRequest{CommonName: "x", Usage: ClientAuth}, testNow.Add(72*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "the CA expired") {
		t.Errorf("issuing after CA expiry: error = %v, want it to say the CA expired", err)
	}
}

func TestIssueLeafRejects(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	ip := []net.IP{net.ParseIP("10.0.0.1")}
	tests := []struct {
		desc    string
		ca      *Keyset
		req     LeafRequest
		wantErr []string
	}{
		{"no CA", nil, LeafRequest{CommonName: "x", Usage: ClientAuth}, []string{"no CA keyset given"}},
		{"no CN", ca, LeafRequest{Usage: ClientAuth}, []string{`keyset "kubernetes-ca"`, "common name is required"}},
		{"no usage", ca, LeafRequest{CommonName: "x"}, []string{"usage is required"}},
		{"unknown usage bits", ca, LeafRequest{CommonName: "x", Usage: ClientAuth | 8}, []string{"unknown bits"}},
		{"client cert with IPs", ca, LeafRequest{CommonName: "x", Usage: ClientAuth, IPAddresses: ip}, []string{"only allowed on server certificates"}},
		{"client cert with DNS names", ca, LeafRequest{CommonName: "x", Usage: ClientAuth, DNSNames: []string{"a"}}, []string{"only allowed on server certificates"}},
		{"server cert without SANs", ca, LeafRequest{CommonName: "x", Usage: ServerAuth}, []string{"needs at least one DNS name or IP address"}},
		{"empty DNS name", ca, LeafRequest{CommonName: "x", Usage: ServerAuth, DNSNames: []string{""}}, []string{"DNS name [0]"}},
		{"bad IP", ca, LeafRequest{CommonName: "x", Usage: ServerAuth, IPAddresses: []net.IP{{1, 2}}}, []string{"IP address [0] is invalid"}},
		{"empty organization", ca, LeafRequest{CommonName: "x", Usage: ClientAuth, Organization: []string{""}}, []string{"organization[0] is empty"}},
		{"negative validity", ca, LeafRequest{CommonName: "x", Usage: ClientAuth, Validity: -time.Hour}, []string{"validity must not be negative"}},
		{"every error at once", ca, LeafRequest{Usage: ClientAuth, IPAddresses: ip}, []string{"common name is required", "only allowed on server certificates"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := IssueLeaf(tt.ca, tt.req, testNow)
			if err == nil {
				t.Fatal("IssueLeaf succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
