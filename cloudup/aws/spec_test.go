package aws_test

import (
	"strings"
	"testing"

	"github.com/hullproject/hull/cloudup/aws"
)

// specTestKey is an ed25519 public key (no private half kept anywhere).
const specTestKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V test@hull"

func TestCheckSSHPublicKey(t *testing.T) {
	for key, want := range map[string]string{
		specTestKey:                                 "",
		"ssh-dss AAAAB3NzaC1kc3M= x":                "not one EC2 imports",
		"ssh-ed25519 !!!":                           "not base64",
		"ssh-rsa " + strings.Fields(specTestKey)[1]: "does not hold a ssh-rsa key",
		"-----BEGIN OPENSSH PRIVATE KEY-----":       "private key",
		"ssh-ed25519":                               "must be an OpenSSH public key",
		specTestKey + "\n" + specTestKey:            "single",
	} {
		err := aws.CheckSSHPublicKey(key)
		switch {
		case want == "" && err != nil:
			t.Errorf("%.30q: %v", key, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%.30q: error %v, want one containing %q", key, err, want)
		}
	}
}
