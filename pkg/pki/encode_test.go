package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withoutKeys is ks as its public form should parse: no private keys.
func withoutKeys(ks *Keyset) *Keyset {
	out := &Keyset{Name: ks.Name}
	strip := func(i *Item) *Item {
		if i == nil {
			return nil
		}
		c := *i
		c.Key = nil
		return &c
	}
	out.Primary, out.Next = strip(ks.Primary), strip(ks.Next)
	return out
}

func TestRoundTrip(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	rotating := mustCA(t, "front-proxy-ca")
	rotating.Next = mustCA(t, "front-proxy-ca").Primary
	sa, err := NewKeyOnlyKeyset("service-account")
	if err != nil {
		t.Fatal(err)
	}
	for _, ks := range []*Keyset{ca, rotating, sa} {
		t.Run(ks.Name, func(t *testing.T) {
			priv, err := ks.MarshalPrivate()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseKeyset(priv)
			if err != nil {
				t.Fatalf("ParseKeyset(private): %v\n%s", err, priv)
			}
			// cmp uses x509.Certificate.Equal and the keys' Equal methods.
			if diff := cmp.Diff(ks, got); diff != "" {
				t.Errorf("private round trip (-want +got):\n%s", diff)
			}
			again, err := got.MarshalPrivate()
			if err != nil || string(again) != string(priv) {
				t.Errorf("re-encoding the parsed keyset changed it (err %v)", err)
			}

			pub, err := ks.MarshalPublic()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(pub), "PRIVATE KEY") {
				t.Errorf("public form holds a private key:\n%s", pub)
			}
			gotPub, err := ParseKeyset(pub)
			if err != nil {
				t.Fatalf("ParseKeyset(public): %v\n%s", err, pub)
			}
			if diff := cmp.Diff(withoutKeys(ks), gotPub); diff != "" {
				t.Errorf("public round trip (-want +got):\n%s", diff)
			}
			if _, err := gotPub.MarshalPrivate(); err == nil || !strings.Contains(err.Error(), "has no private key") {
				t.Errorf("MarshalPrivate of a public-only keyset: error = %v, want it to say there is no private key", err)
			}
		})
	}
}

func TestParsedCAIssues(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	priv, err := ca.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseKeyset(priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustLeaf(t, parsed, LeafRequest{CommonName: "system:kube-controller-manager", Usage: ClientAuth})
	if err := verify(leaf, ca, x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("leaf from the parsed CA does not verify against the original: %v", err)
	}

	pub, err := ca.MarshalPublic()
	if err != nil {
		t.Fatal(err)
	}
	public, err := ParseKeyset(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, err = IssueLeaf(public, LeafRequest{CommonName: "x", Usage: ClientAuth}, testNow)
	want := `keyset "kubernetes-ca" primary item ` + ca.Primary.ID + ` has no private key (it was loaded from the public form)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("IssueLeaf with a public-only CA: error = %v, want %q", err, want)
	}
}

func TestParseLegacyKeyForms(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	sa, err := NewKeyOnlyKeyset("service-account")
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ca.Primary.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	rsaDER := x509.MarshalPKCS1PrivateKey(sa.Primary.Key.(*rsa.PrivateKey))
	tests := []struct {
		ks    *Keyset
		block *pem.Block
	}{
		{ca, &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}},
		{sa, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: rsaDER}},
	}
	for _, tt := range tests {
		t.Run(tt.block.Type, func(t *testing.T) {
			doc := mustPrivate(t, tt.ks)
			want, _ := tt.ks.Primary.KeyPEM()
			doc = strings.Replace(doc, indent(string(want)), indent(string(pem.EncodeToMemory(tt.block))), 1)
			got, err := ParseKeyset([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.ks, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func mustPrivate(t *testing.T, ks *Keyset) string {
	t.Helper()
	b, err := ks.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// indent is how a PEM block appears inside the YAML document.
func indent(pemText string) string {
	return strings.ReplaceAll(strings.TrimSuffix(pemText, "\n"), "\n", "\n    ")
}

func TestParseKeysetErrors(t *testing.T) {
	ca := mustCA(t, "kubernetes-ca")
	other := mustCA(t, "etcd-peers-ca-main")
	sa, err := NewKeyOnlyKeyset("service-account")
	if err != nil {
		t.Fatal(err)
	}
	caDoc, saDoc := mustPrivate(t, ca), mustPrivate(t, sa)
	caKey, _ := ca.Primary.KeyPEM()
	otherKey, _ := other.Primary.KeyPEM()
	saPub, _ := sa.Primary.PublicKeyPEM()
	otherPub, _ := other.Primary.PublicKeyPEM()
	caCert, otherCert := string(ca.Primary.CertificatePEM()), string(other.Primary.CertificatePEM())
	id := ca.Primary.ID
	rotated := mustPrivate(t, &Keyset{Name: "kubernetes-ca", Primary: ca.Primary, Next: other.Primary})

	tests := []struct {
		desc, doc string
		wantErr   []string
	}{
		{"garbage", "\x00\x01not yaml: [", []string{"parsing keyset"}},
		{"empty", "", []string{"name is required"}},
		{"bad name", strings.Replace(caDoc, "name: kubernetes-ca", "name: ../x", 1), []string{`keyset name "../x" is invalid`}},
		{"unknown field", caDoc + "extra: 1\n", []string{"parsing keyset", `unknown field "extra"`}},
		{"wrong kind", strings.Replace(caDoc, "kind: Keyset", "kind: Secret", 1), []string{`keyset "kubernetes-ca"`, `kind is "Secret"`}},
		{"wrong apiVersion", strings.Replace(caDoc, "hull.dev/v1alpha1", "v1", 1), []string{`keyset "kubernetes-ca"`, `apiVersion is "v1"`}},
		{"no primary", "apiVersion: hull.dev/v1alpha1\nkind: Keyset\nname: kubernetes-ca\n", []string{`keyset "kubernetes-ca": primary item is required`}},
		{"empty item", "apiVersion: hull.dev/v1alpha1\nkind: Keyset\nname: kubernetes-ca\nprimary:\n  id: \"7\"\n", []string{`keyset "kubernetes-ca" primary item 7`, "no certificate, publicKey or privateKey"}},
		{"no id", strings.Replace(caDoc, "id: \""+id+"\"", "id: \"\"", 1), []string{`keyset "kubernetes-ca" primary item`, "id is required"}},
		{"id is not the serial", strings.Replace(caDoc, id, "42", 1), []string{`keyset "kubernetes-ca" primary item 42`, "does not match the certificate's serial number " + id}},
		{"certificate is a public key", strings.Replace(caDoc, indent(caCert), indent(string(saPub)), 1), []string{`keyset "kubernetes-ca" primary item ` + id, `certificate: PEM block type is "PUBLIC KEY", want "CERTIFICATE"`}},
		{"privateKey is a certificate", strings.Replace(caDoc, indent(string(caKey)), indent(caCert), 1), []string{`keyset "kubernetes-ca" primary item ` + id, `privateKey: PEM block type is "CERTIFICATE", want "PRIVATE KEY"`}},
		{"certificate is not PEM", strings.Replace(caDoc, "-----BEGIN CERTIFICATE-----", "-----BEGIN CERT", 1), []string{`keyset "kubernetes-ca"`, "certificate: no PEM block found"}},
		{"certificate is corrupt", strings.Replace(caDoc, indent(caCert)[40:60], strings.Repeat("A", 20), 1), []string{`keyset "kubernetes-ca" primary item ` + id, "certificate: parsing certificate"}},
		{"two certificates", strings.Replace(caDoc, indent(caCert), indent(caCert+otherCert), 1), []string{`keyset "kubernetes-ca"`, "unexpected data after the CERTIFICATE PEM block"}},
		{"key from another CA", strings.Replace(caDoc, indent(string(caKey)), indent(string(otherKey)), 1), []string{`keyset "kubernetes-ca" primary item ` + id, "privateKey does not match the certificate"}},
		{"public key does not match", strings.Replace(saDoc, indent(string(saPub)), indent(string(otherPub)), 1), []string{`keyset "service-account" primary item ` + sa.Primary.ID, "privateKey does not match the publicKey"}},
		{"publicKey beside a certificate does not match", strings.Replace(caDoc, "  privateKey:", "  publicKey: |\n    "+indent(string(otherPub))+"\n  privateKey:", 1), []string{`keyset "kubernetes-ca" primary item ` + id, "publicKey does not match the certificate"}},
		{"next item broken", strings.Replace(rotated, indent(string(otherKey)), indent(string(caKey)), 1), []string{`keyset "kubernetes-ca" next item ` + other.Primary.ID, "privateKey does not match the certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ks, err := ParseKeyset([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseKeyset succeeded (%+v), want an error; document:\n%s", ks, tt.doc)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		desc    string
		ks      *Keyset
		wantErr string
	}{
		{"no name", &Keyset{Primary: &Item{ID: "1"}}, "keyset name is required"},
		{"no primary", &Keyset{Name: "kubernetes-ca"}, `keyset "kubernetes-ca": it has no primary item`},
		{"no id", &Keyset{Name: "kubernetes-ca", Primary: &Item{}}, "item has no ID"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if _, err := tt.ks.MarshalPublic(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("MarshalPublic error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
