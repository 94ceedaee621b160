package aws_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

const (
	sshKeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPfhxTYmkoN5UO1bZmd7aRZRDbIiYMq//KMX2wGDj82V ops@example.com"
	sshKeyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmWdUkJj2PRd5cNDhQDahVW4JbW0o1EWC9F1aqKRxvV new@example.com"
)

// templateKeys maps each launch template's group to the key pair its
// latest version names.
func (e *env) templateKeys() map[string]string {
	e.t.Helper()
	out, err := ec2.NewFromConfig(e.cfg).DescribeLaunchTemplateVersions(context.Background(),
		&ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
	if err != nil {
		e.t.Fatal(err)
	}
	keys := map[string]string{}
	for _, v := range out.LaunchTemplateVersions {
		keys[strings.TrimSuffix(aws.ToString(v.LaunchTemplateName), "."+e.name)] = aws.ToString(v.LaunchTemplateData.KeyName)
	}
	return keys
}

// TestSSHPublicKey: spec.sshPublicKey is imported as a key pair named for
// the cluster and tagged for it; every launch template and machine names
// it. A new key is a new key pair and new template versions; delete
// removes the key pairs hull imported.
func TestSSHPublicKey(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "ssh.example.com", Zones: []string{"us-east-1a"}, SSHPublicKey: sshKeyA}, awstest.Options{})
	e.update(true)
	nameA := awsmodel.KeyPairName(e.name, sshKeyA)
	if !strings.HasPrefix(nameA, "hull.ssh.example.com-") {
		t.Errorf("key pair name %s", nameA)
	}
	if got := e.srv.KeyPairs(); got[nameA] != e.name || len(got) != 1 {
		t.Errorf("key pairs %v, want %s tagged for %s", got, nameA, e.name)
	}
	for g, k := range e.templateKeys() {
		if k != nameA {
			t.Errorf("%s: launch template names key %q, want %s", g, k, nameA)
		}
	}
	e.srv.Reconcile()
	for _, in := range e.srv.Instances() {
		if in.KeyName != nameA {
			t.Errorf("instance %s has key %q", in.ID, in.KeyName)
		}
	}
	e.srv.ResetRequests()
	e.update(true)
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		t.Errorf("second update made mutating calls: %v", m)
	}

	e.editCluster(func(s *v1alpha1.ClusterSpec) { s.SSHPublicKey = sshKeyB })
	plan := e.update(false)
	for _, ig := range e.igs {
		if !strings.Contains(plan, "LaunchConfig/"+ig.Metadata.Name) {
			t.Errorf("plan after a key change does not update %s:\n%s", ig.Metadata.Name, plan)
		}
	}
	e.update(true)
	nameB := awsmodel.KeyPairName(e.name, sshKeyB)
	for g, k := range e.templateKeys() {
		if k != nameB {
			t.Errorf("%s: after the key change the template names %q, want %s", g, k, nameB)
		}
	}
	groups, err := e.provider().FindInstanceGroups(context.Background(), e.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.ConfigVersion != "2" {
			t.Errorf("group %s launches template version %s, want 2 (machines roll onto the new key)", g.Name, g.ConfigVersion)
		}
	}
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestSSHKeyName: spec.sshKeyName names an existing key pair, which hull
// uses and never deletes; one that does not exist stops the update with
// the field named.
func TestSSHKeyName(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "keyname.example.com", Zones: []string{"us-east-1a"}, SSHKeyName: "ops"}, awstest.Options{})
	var out strings.Builder
	_, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Yes: true, Out: &out})
	if err == nil || !strings.Contains(err.Error(), `spec.sshKeyName: there is no EC2 key pair "ops"`) {
		t.Errorf("missing key pair: %v", err)
	}
	id := e.srv.AddKeyPair("ops")
	e.update(true)
	for g, k := range e.templateKeys() {
		if k != "ops" {
			t.Errorf("%s: template names key %q, want ops", g, k)
		}
	}
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) != 1 || left[0] != "key-pair "+id {
		t.Errorf("left behind %v, want only the user's key pair", left)
	}
}
