package tasks

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/pki"
)

func TestCertReissuedWhenRequestChanges(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCAKeyset("kubernetes-ca", "test-ca", now, 24*365*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	c := &Cert{TaskName: "certs/apiserver", TaskPhase: PhaseFiles, Root: root, CertPath: "/pki/a.crt", KeyPath: "/pki/a.key", CA: ca,
		Request: pki.LeafRequest{CommonName: "kube-apiserver", Usage: pki.ServerAuth, DNSNames: []string{"kubernetes"}}}
	r := &Runner{}
	for i, want := range []Action{Create, Unchanged} {
		res, err := r.Run(context.Background(), []Task{c})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Change.Action != want {
			t.Errorf("run %d: %s; want %s", i, res[0].Change.Action, want)
		}
	}
	c.Request.IPAddresses = []net.IP{net.IPv4(10, 0, 0, 1).To4()}
	res, err := r.Run(context.Background(), []Task{c})
	if err != nil || res[0].Change.Action != Update || res[0].Change.Reason != "SANs differ" {
		t.Fatalf("after a SAN change: %+v, %v", res, err)
	}
	// A mismatched key is caught too.
	other := filepath.Join(root, "pki/b.key")
	c2 := *c
	c2.KeyPath = "/pki/b.key"
	c2.CertPath = "/pki/b.crt"
	if err := (&c2).Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(other)
	if err := os.WriteFile(filepath.Join(root, c.KeyPath), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if ch, _ := c.Check(context.Background()); ch.Reason != "key does not match the certificate" {
		t.Errorf("check with a foreign key: %+v", ch)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	root := t.TempDir()
	f := &File{TaskName: "config/x", TaskPhase: PhaseFiles, Root: root, Path: "/etc/x.conf", Mode: 0o644,
		Content: func(context.Context) ([]byte, error) { return []byte("a: 1\n"), nil }}
	var plan bytes.Buffer
	if _, err := (&Runner{DryRun: true, Plan: &plan}).Run(context.Background(), []Task{f}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.HostPath()); !os.IsNotExist(err) {
		t.Errorf("dry run wrote the file: %v", err)
	}
	if want := "[files]\n  config/x: create\n      /etc/x.conf mode 0644\n      a: 1\n"; plan.String() != want {
		t.Errorf("plan = %q; want %q", plan.String(), want)
	}
	if _, err := (&Runner{}).Run(context.Background(), []Task{f, f}); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("duplicate task names: %v", err)
	}
}
