package validation

import (
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// testSSHKey is an ed25519 public key (no private half kept anywhere).
const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V test@hull"

// toAWS moves the sample cluster to AWS zone us-east-1a.
func (o *objects) toAWS() {
	o.c.Spec.CloudProvider = v1alpha1.CloudAWS
	for i := range o.c.Spec.Networking.Subnets {
		o.c.Spec.Networking.Subnets[i].Zone = "us-east-1a"
	}
}

func TestValidAWSSettings(t *testing.T) {
	for name, mutate := range map[string]func(o *objects){
		"zone id":           func(o *objects) { o.c.Spec.DNSZone = "Z0123456789ABCDEFGHIJ" },
		"zone id with path": func(o *objects) { o.c.Spec.DNSZone = "/hostedzone/Z0123456789ABC" },
		"zone name": func(o *objects) {
			o.c.Spec.DNSZone, o.c.Spec.API.PublicName = "example.com.", "api.demo.example.com"
		},
		"key name":   func(o *objects) { o.c.Spec.SSHKeyName = "ops key 2026" },
		"public key": func(o *objects) { o.c.Spec.SSHPublicKey = testSSHKey + "\n" },
		"local zone": func(o *objects) { o.c.Spec.Networking.Subnets[0].Zone = "us-east-1-bos-1a" },
	} {
		t.Run(name, func(t *testing.T) {
			o := load(t, "sample.yaml")
			o.toAWS()
			mutate(o)
			if errs := ValidateCluster(o.c, o.igs); len(errs) > 0 {
				t.Errorf("unexpected errors: %v", errs.ToAggregate())
			}
		})
	}
}

func TestValidateAWSInvalid(t *testing.T) {
	aws := func(f func(o *objects)) func(o *objects) {
		return func(o *objects) { o.toAWS(); f(o) }
	}
	runInvalidCases(t, []invalidCase{
		{
			name:   "dns zone on the local cloud",
			mutate: func(o *objects) { o.c.Spec.DNSZone = "example.com" },
			want:   []string{forbidden("spec.dnsZone")},
		},
		{
			name:   "ssh key settings on the local cloud",
			mutate: func(o *objects) { o.c.Spec.SSHKeyName, o.c.Spec.SSHPublicKey = "ops", testSSHKey },
			want:   []string{forbidden("spec.sshKeyName"), forbidden("spec.sshPublicKey")},
		},
		{
			name:   "not an AWS zone",
			mutate: aws(func(o *objects) { o.c.Spec.Networking.Subnets[0].Zone = "local-a" }),
			want:   []string{invalid("spec.networking.subnets[0].zone")},
		},
		{
			name: "zones in two regions",
			mutate: aws(func(o *objects) {
				o.c.Spec.Networking.Subnets = append(o.c.Spec.Networking.Subnets,
					v1alpha1.SubnetSpec{Name: "zone-b", Zone: "us-west-2b", CIDR: "172.20.64.0/19", Type: v1alpha1.SubnetPublic})
			}),
			want: []string{invalid("spec.networking.subnets[1].zone")},
		},
		{
			name:   "dns zone not a name",
			mutate: aws(func(o *objects) { o.c.Spec.DNSZone = "example_com" }),
			want:   []string{invalid("spec.dnsZone")},
		},
		{
			name: "public name outside the dns zone",
			mutate: aws(func(o *objects) {
				o.c.Spec.DNSZone, o.c.Spec.API.PublicName = "example.org", "api.demo.example.com"
			}),
			want: []string{invalid("spec.api.publicName")},
		},
		{
			name:   "both key settings",
			mutate: aws(func(o *objects) { o.c.Spec.SSHKeyName, o.c.Spec.SSHPublicKey = "ops", testSSHKey }),
			want:   []string{forbidden("spec.sshPublicKey")},
		},
		{
			name:   "key name too long",
			mutate: aws(func(o *objects) { o.c.Spec.SSHKeyName = strings.Repeat("k", 256) }),
			want:   []string{invalid("spec.sshKeyName")},
		},
	})
}
