package pki

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClusterKeysetNames(t *testing.T) {
	tests := []struct {
		etcd []string
		want []string
	}{
		{[]string{"main", "events"}, []string{
			"kubernetes-ca", "front-proxy-ca",
			"etcd-peers-ca-main", "etcd-peers-ca-events",
			"etcd-clients-ca-main", "etcd-clients-ca-events",
			"service-account",
		}},
		{[]string{"main"}, []string{"kubernetes-ca", "front-proxy-ca", "etcd-peers-ca-main", "etcd-clients-ca-main", "service-account"}},
		{nil, []string{"kubernetes-ca", "front-proxy-ca", "service-account"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ClusterKeysetNames(tt.etcd)); diff != "" {
			t.Errorf("ClusterKeysetNames(%q) (-want +got):\n%s", tt.etcd, diff)
		}
	}
}

func TestNewClusterKeysets(t *testing.T) {
	keysets, err := NewClusterKeysets("demo.example.com", []string{"main", "events"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var got []KeypairInfo
	for _, ks := range keysets {
		if ks.Primary == nil || ks.Next != nil {
			t.Errorf("keyset %s: want a primary item and no next item", ks.Name)
			continue
		}
		if ks.Primary.Key == nil {
			t.Errorf("keyset %s: primary item has no private key", ks.Name)
		}
		got = append(got, ks.Info()...)
	}
	notAfter := testNow.Add(10 * 365 * 24 * time.Hour)
	ca := func(name string) KeypairInfo {
		return KeypairInfo{Keyset: name, Role: "primary", Type: "CA", Subject: "CN=" + name + "@demo.example.com", NotAfter: notAfter, Algorithm: "ECDSA P-256"}
	}
	want := []KeypairInfo{
		ca("kubernetes-ca"), ca("front-proxy-ca"),
		ca("etcd-peers-ca-main"), ca("etcd-peers-ca-events"),
		ca("etcd-clients-ca-main"), ca("etcd-clients-ca-events"),
		{Keyset: "service-account", Role: "primary", Type: "key", Algorithm: "RSA 2048"},
	}
	ignoreID := cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ID" }, cmp.Ignore())
	if diff := cmp.Diff(want, got, ignoreID); diff != "" {
		t.Errorf("Info() of the cluster keysets (-want +got):\n%s", diff)
	}

	// Every CA is distinct: a leaf of one never verifies against another.
	ids := map[string]bool{}
	for _, issuer := range keysets[:6] {
		if ids[issuer.Primary.ID] {
			t.Errorf("keyset %s reuses ID %s", issuer.Name, issuer.Primary.ID)
		}
		ids[issuer.Primary.ID] = true
		leaf := mustLeaf(t, issuer, LeafRequest{CommonName: "probe", Usage: ClientAuth})
		for _, other := range keysets[:6] {
			err := verify(leaf, other, x509.ExtKeyUsageClientAuth)
			if same := other == issuer; same != (err == nil) {
				t.Errorf("leaf of %s verified against %s: err = %v", issuer.Name, other.Name, err)
			}
		}
	}
}

func TestNewClusterKeysetsRejects(t *testing.T) {
	tests := []struct {
		desc    string
		cluster string
		etcd    []string
		wantErr string
	}{
		{"no cluster name", "", []string{"main"}, "cluster name is required"},
		{"duplicate etcd cluster", "demo.example.com", []string{"main", "main"}, `etcd cluster "main" is listed twice`},
		{"bad etcd cluster name", "demo.example.com", []string{"Main/x"}, `keyset name "etcd-peers-ca-Main/x" is invalid`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := NewClusterKeysets(tt.cluster, tt.etcd, testNow)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
