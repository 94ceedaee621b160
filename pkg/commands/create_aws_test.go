package commands

import (
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/apis/codec"
)

const testSSHPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V ops@example.com\n"

// TestCreateClusterAWSFlags: --dns-zone and --ssh-public-key land in the
// spec; a bad key file or a flag for the wrong cloud is a usage error
// naming the flag, and nothing is written.
func TestCreateClusterAWSFlags(t *testing.T) {
	e := newEnv(t)
	key := writeFile(t, e.dir, "id.pub", testSSHPublicKey)
	out := e.must("create", "cluster", "aws.example.com", "--cloud", "aws", "--zones", "eu-west-1a,eu-west-1b",
		"--dns-zone", "example.com", "--ssh-public-key", key, "--dry-run")
	objs, err := codec.DecodeAll([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	s := objs.Clusters[0].Spec
	if s.DNSZone != "example.com" || s.SSHPublicKey != strings.TrimSpace(testSSHPublicKey) {
		t.Errorf("spec dnsZone %q sshPublicKey %q", s.DNSZone, s.SSHPublicKey)
	}

	private := writeFile(t, e.dir, "id", "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n")
	e.fails(2, []string{"--ssh-public-key", "private key"}, "create", "cluster", "aws.example.com", "--cloud", "aws", "--zones", "eu-west-1a",
		"--ssh-public-key", private)
	e.fails(2, []string{"--ssh-public-key", "no such file"}, "create", "cluster", "aws.example.com", "--cloud", "aws", "--zones", "eu-west-1a",
		"--ssh-public-key", e.dir+"/missing.pub")
	e.fails(2, []string{"--dns-zone only applies with --cloud aws"}, "create", "cluster", demo, "--dns-zone", "example.com")
	e.fails(2, []string{"--zones", "region"}, "create", "cluster", "aws.example.com", "--cloud", "aws", "--zones", "eu-west-1a,us-east-1b")
	e.fails(1, []string{"spec.api.publicName", "spec.dnsZone example.org"}, "create", "cluster", "aws.example.com", "--cloud", "aws",
		"--zones", "eu-west-1a", "--dns-zone", "example.org")
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("refused creates wrote %v", files)
	}
}
