package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t *testing.T, name string) *Keyset {
	t.Helper()
	ks, err := NewCAKeyset(name, name+"@test.example.com", testNow, CAValidity)
	if err != nil {
		t.Fatalf("NewCAKeyset(%q): %v", name, err)
	}
	return ks
}

// caFacts is what a test checks of a CA certificate.
type caFacts struct {
	CN, Issuer, ID        string
	IsCA                  bool
	BasicConstraintsValid bool
	MaxPathLen            int
	MaxPathLenZero        bool
	KeyUsage              x509.KeyUsage
	NotBefore, NotAfter   time.Time
	HasSKI, AKIIsSKI      bool
}

func TestNewCAKeyset(t *testing.T) {
	tests := []struct {
		name, cn string
		validity time.Duration
	}{
		{"kubernetes-ca", "kubernetes-ca@demo.example.com", CAValidity},
		{"etcd-peers-ca-main", "etcd-peers-ca-main", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := NewCAKeyset(tt.name, tt.cn, testNow, tt.validity)
			if err != nil {
				t.Fatal(err)
			}
			if ks.Name != tt.name || ks.Primary == nil || ks.Next != nil {
				t.Fatalf("keyset = %+v, want name %q with only a primary item", ks, tt.name)
			}
			c := ks.Primary.Certificate
			got := caFacts{
				CN: c.Subject.CommonName, Issuer: c.Issuer.CommonName, ID: ks.Primary.ID,
				IsCA: c.IsCA, BasicConstraintsValid: c.BasicConstraintsValid,
				MaxPathLen: c.MaxPathLen, MaxPathLenZero: c.MaxPathLenZero, KeyUsage: c.KeyUsage,
				NotBefore: c.NotBefore, NotAfter: c.NotAfter,
				HasSKI: len(c.SubjectKeyId) == 20, AKIIsSKI: string(c.AuthorityKeyId) == string(c.SubjectKeyId),
			}
			want := caFacts{
				CN: tt.cn, Issuer: tt.cn, ID: c.SerialNumber.String(),
				IsCA: true, BasicConstraintsValid: true, MaxPathLen: 0, MaxPathLenZero: true,
				KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
				NotBefore: testNow.Add(-5 * time.Minute), NotAfter: testNow.Add(tt.validity),
				HasSKI: true, AKIIsSKI: true,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CA certificate (-want +got):\n%s", diff)
			}
			if err := c.CheckSignatureFrom(c); err != nil {
				t.Errorf("CA is not self-signed: %v", err)
			}
			if _, ok := ks.Primary.Key.(*ecdsa.PrivateKey); !ok {
				t.Errorf("CA key is %T, want *ecdsa.PrivateKey", ks.Primary.Key)
			}
			if !publicKeysEqual(ks.Primary.PublicKey, ks.Primary.Key.Public()) {
				t.Error("PublicKey does not match Key")
			}
		})
	}
}

func TestNewCAKeysetRejects(t *testing.T) {
	tests := []struct {
		desc, name, cn string
		validity       time.Duration
		wantErr        string
	}{
		{"no name", "", "cn", time.Hour, "keyset name is required"},
		{"path in name", "../etc", "cn", time.Hour, `keyset name "../etc" is invalid`},
		{"upper case", "Kubernetes-CA", "cn", time.Hour, "is invalid"},
		{"no CN", "kubernetes-ca", "", time.Hour, `keyset "kubernetes-ca": CA common name is required`},
		{"zero validity", "kubernetes-ca", "cn", 0, "validity must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := NewCAKeyset(tt.name, tt.cn, testNow, tt.validity)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewKeyOnlyKeyset(t *testing.T) {
	ks, err := NewKeyOnlyKeyset("service-account")
	if err != nil {
		t.Fatal(err)
	}
	p := ks.Primary
	if p.Certificate != nil {
		t.Error("bare key has a certificate")
	}
	key, ok := p.Key.(*rsa.PrivateKey)
	if !ok || key.N.BitLen() != 2048 {
		t.Fatalf("key = %T, want a 2048-bit *rsa.PrivateKey", p.Key)
	}
	if p.ID == "" || p.ID == "0" {
		t.Errorf("ID = %q, want a serial number", p.ID)
	}
	pub, err := p.PublicKeyPEM()
	if err != nil || !strings.HasPrefix(string(pub), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("PublicKeyPEM = %q, %v; want a PUBLIC KEY block", pub, err)
	}
	if p.CertificatePEM() != nil {
		t.Error("CertificatePEM of a bare key is not nil")
	}
	if _, err := IssueLeaf(ks, LeafRequest{CommonName: "x", Usage: ClientAuth}, testNow); err == nil ||
		!strings.Contains(err.Error(), `keyset "service-account" is a bare key, not a certificate authority`) {
		t.Errorf("IssueLeaf from a bare key: error = %v", err)
	}
}

func TestInfo(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	next := mustCA(t, "kubernetes-ca")
	ca.Next = next.Primary
	sa, err := NewKeyOnlyKeyset("service-account")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ks   *Keyset
		want []KeypairInfo
	}{
		{ca, []KeypairInfo{
			{Keyset: "kubernetes-ca", ID: ca.Primary.ID, Role: "primary", Type: "CA", Subject: "CN=kubernetes-ca@test.example.com", NotAfter: testNow.Add(CAValidity), Algorithm: "ECDSA P-256"},
			{Keyset: "kubernetes-ca", ID: next.Primary.ID, Role: "next", Type: "CA", Subject: "CN=kubernetes-ca@test.example.com", NotAfter: testNow.Add(CAValidity), Algorithm: "ECDSA P-256"},
		}},
		{sa, []KeypairInfo{
			{Keyset: "service-account", ID: sa.Primary.ID, Role: "primary", Type: "key", Algorithm: "RSA 2048"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.ks.Name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.ks.Info()); diff != "" {
				t.Errorf("Info() (-want +got):\n%s", diff)
			}
		})
	}
}
