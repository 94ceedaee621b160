package aws_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/cloudup"
	hullaws "github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// ownedCluster is a private cluster with every kind of resource hull
// makes on AWS: NAT gateways and their addresses, a bastion, an imported
// key pair and the API record in a zone (its id is returned).
func ownedCluster(t *testing.T, name string) (*env, string) {
	t.Helper()
	e := newEnv(t, newcluster.Options{Name: name, Zones: []string{"us-east-1a"}, Topology: v1alpha1.TopologyPrivate,
		Bastion: true, DNSZone: "example.com", SSHPublicKey: sshKeyA}, awstest.Options{})
	return e, e.srv.AddHostedZone("example.com")
}

// providerAs is the cluster's provider acting for another identity.
func (e *env) providerAs(o cloud.Owner) *hullaws.Provider {
	e.t.Helper()
	opts := e.opts
	opts.Owner = o
	p, err := hullaws.New(context.Background(), e.cluster, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestForeignOwnerRefused: a cluster of the same name from another state
// store (another identity) finds, plans, changes, rolls and deletes
// nothing of the first one's: every call is refused with the owner's id,
// its store and the way out, before any mutating AWS call; the owner
// still updates cleanly and deletes everything afterwards.
func TestForeignOwnerRefused(t *testing.T) {
	e, zoneID := ownedCluster(t, "owned.example.com")
	e.update(true)
	e.srv.Reconcile()
	ctx := context.Background()
	a := e.provider()
	net, err := a.FindNetwork(ctx, e.name)
	if err != nil || net == nil {
		t.Fatalf("network %+v: %v", net, err)
	}
	lb, err := a.FindLoadBalancer(ctx, e.name, cloudup.APILoadBalancerName)
	if err != nil || lb == nil {
		t.Fatalf("load balancer %+v: %v", lb, err)
	}
	insts, err := a.ListInstances(ctx, e.name)
	if err != nil || len(insts) == 0 {
		t.Fatalf("instances %v: %v", insts, err)
	}
	res, err := cloudup.FindCloudResources(ctx, a, e.name)
	if err != nil {
		t.Fatal(err)
	}
	m := e.model()
	group, lc := m.Groups["nodes-a"], m.LaunchConfigs["nodes-a"]
	if group == nil || lc == nil {
		t.Fatalf("model groups %v", m.Groups)
	}
	before := e.srv.Leftovers()
	zone := e.srv.Records(zoneID)
	e.srv.ResetRequests()

	other := cloud.Owner{Cluster: e.name, ID: "other-id", Store: "s3://other-store"}
	b := e.providerAs(other)
	rec := e.cluster.Spec.API.PublicName
	calls := map[string]func() error{
		"FindNetwork":        func() error { _, err := b.FindNetwork(ctx, e.name); return err },
		"FindLaunchConfigs":  func() error { _, err := b.FindLaunchConfigs(ctx, e.name); return err },
		"FindInstanceGroups": func() error { _, err := b.FindInstanceGroups(ctx, e.name); return err },
		"FindLoadBalancer":   func() error { _, err := b.FindLoadBalancer(ctx, e.name, lb.Name); return err },
		"FindExtras":         func() error { _, err := b.FindExtras(ctx, e.name); return err },
		"FindDNSRecord":      func() error { _, err := b.FindDNSRecord(ctx, e.name, rec); return err },
		"LoadBalancerHost":   func() error { _, err := b.LoadBalancerHost(ctx, e.name, lb.Name); return err },
		"ListInstances":      func() error { _, err := b.ListInstances(ctx, e.name); return err },
		"FindCloudResources": func() error { _, err := cloudup.FindCloudResources(ctx, b, e.name); return err },
		"Update dry run":     func() error { _, err := cloudup.Update(ctx, e.reg, b, e.name, cloudup.UpdateOptions{}); return err },
		"Update --yes": func() error {
			_, err := cloudup.Update(ctx, e.reg, b, e.name, cloudup.UpdateOptions{Yes: true})
			return err
		},
		"EnsureNetwork":       func() error { _, err := b.EnsureNetwork(ctx, net); return err },
		"EnsureLaunchConfig":  func() error { return b.EnsureLaunchConfig(ctx, lc) },
		"EnsureInstanceGroup": func() error { return b.EnsureInstanceGroup(ctx, group) },
		"EnsureLoadBalancer":  func() error { _, err := b.EnsureLoadBalancer(ctx, lb); return err },
		"EnsureDNSRecord": func() error {
			return b.EnsureDNSRecord(ctx, &cloud.DNSRecord{Cluster: e.name, Name: rec, LoadBalancer: lb.Name})
		},
		"TerminateInstance":    func() error { return b.TerminateInstance(ctx, insts[0].ID, false) },
		"DetachInstance":       func() error { return b.DetachInstance(ctx, insts[0].ID) },
		"DeleteDNSRecord":      func() error { return b.DeleteDNSRecord(ctx, e.name, rec) },
		"DeleteLoadBalancer":   func() error { return b.DeleteLoadBalancer(ctx, e.name, lb.Name) },
		"DeleteInstanceGroup":  func() error { return b.DeleteInstanceGroup(ctx, e.name, group.Name) },
		"DeleteLaunchConfig":   func() error { return b.DeleteLaunchConfig(ctx, e.name, group.Name) },
		"DeleteNetwork":        func() error { return b.DeleteNetwork(ctx, e.name) },
		"DeleteCloudResources": func() error { return cloudup.DeleteCloudResources(ctx, b, e.name, res, &strings.Builder{}) },
	}
	for name, call := range calls {
		err := call()
		var fo *cloud.ForeignOwnerError
		if !errors.Is(err, cloud.ErrForeignOwner) || !errors.As(err, &fo) {
			t.Errorf("%s: %v, want a refusal (cloud.ErrForeignOwner)", name, err)
			continue
		}
		want := cloud.Owner{Cluster: e.name, ID: e.opts.Owner.ID, Store: e.opts.Owner.Store}
		if d := cmp.Diff(want, fo.Owner); d != "" || fo.Caller != other || fo.Resource == "" {
			t.Errorf("%s: refusal names resource %q, owner (-want +got):\n%s caller %+v", name, fo.Resource, d, fo.Caller)
		}
		if !strings.Contains(err.Error(), "--state "+e.opts.Owner.Store) {
			t.Errorf("%s: the error does not say the way out: %v", name, err)
		}
	}
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		t.Errorf("the other identity made mutating calls: %v", m)
	}
	e.srv.Reconcile()
	if d := cmp.Diff(before, e.srv.Leftovers()); d != "" {
		t.Errorf("the owner's resources changed (-before +after):\n%s", d)
	}
	if d := cmp.Diff(zone, e.srv.Records(zoneID)); d != "" {
		t.Errorf("the zone's records changed (-before +after):\n%s", d)
	}

	e.updateIsClean("the owner's update after the refusals")
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("the owner's delete left: %v", left)
	}
}

// TestLegacyClusterClaimed: a cluster made by a hull that kept no
// identities has no id tags; the first update with an identity shows the
// claim in its plan, tags every resource (autoscaling groups, load
// balancer and target group, IAM roles and profiles, launch templates,
// machines, key pairs and the network) and is then clean; from then on
// another identity is refused.
func TestLegacyClusterClaimed(t *testing.T) {
	e, _ := ownedCluster(t, "legacy.example.com")
	owner := e.opts.Owner
	e.opts.Owner = cloud.Owner{}
	e.update(true)
	e.srv.Reconcile()
	if got := unclaimed(t, e); len(got) == 0 {
		t.Fatal("a cluster made without an identity has id tags")
	}

	e.opts.Owner = owner
	if plan := e.update(false); !strings.Contains(plan, "no cluster-id tag") {
		t.Errorf("the plan does not show the claim:\n%s", plan)
	}
	e.update(true)
	e.srv.Reconcile()
	if got := unclaimed(t, e); len(got) > 0 {
		t.Errorf("not claimed by the update: %v", got)
	}
	e.updateIsClean("the update after the claim")

	_, err := cloudup.FindCloudResources(context.Background(), e.providerAs(cloud.Owner{Cluster: e.name, ID: "other-id"}), e.name)
	if !errors.Is(err, cloud.ErrForeignOwner) {
		t.Errorf("another identity after the claim: %v, want a refusal", err)
	}
	e.delete()
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("delete left: %v", left)
	}
}

// TestLegacyClusterDeleted: a cluster without id tags is deleted as it
// is by a hull that has an identity for it.
func TestLegacyClusterDeleted(t *testing.T) {
	e, _ := ownedCluster(t, "legacy-delete.example.com")
	owner := e.opts.Owner
	e.opts.Owner = cloud.Owner{}
	e.update(true)
	e.srv.Reconcile()
	e.opts.Owner = owner
	e.srv.ResetRequests()
	e.delete()
	if slices.ContainsFunc(mutating(e.srv.Requests()), func(c string) bool { return strings.Contains(c, "Tag") }) {
		t.Errorf("delete claimed resources it deletes: %v", mutating(e.srv.Requests()))
	}
	e.srv.Reconcile()
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("delete left: %v", left)
	}
}

// unclaimed lists the cluster's resources (those with its cluster tag)
// whose id tag is not the owner's, read back from the endpoint.
func unclaimed(t *testing.T, e *env) []string {
	t.Helper()
	ctx := context.Background()
	id := e.opts.Owner.ID
	var out []string
	check := func(what string, tags map[string]string) {
		if tags["hull.dev/cluster"] == e.name && (id == "" || tags["hull.dev/cluster-id"] != id) {
			out = append(out, what)
		}
	}
	ec2c := ec2.NewFromConfig(e.cfg)
	tagged, err := ec2c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []ec2types.Filter{
		{Name: aws.String("key"), Values: []string{"hull.dev/cluster", "hull.dev/cluster-id"}}}})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]map[string]string{}
	for _, tag := range tagged.Tags {
		r := aws.ToString(tag.ResourceId)
		if byID[r] == nil {
			byID[r] = map[string]string{}
		}
		byID[r][aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	kinds := map[ec2types.ResourceType]bool{}
	for _, tag := range tagged.Tags {
		kinds[tag.ResourceType] = true
	}
	for _, k := range []ec2types.ResourceType{"vpc", "subnet", "internet-gateway", "natgateway", "elastic-ip", "route-table",
		"security-group", "launch-template", "instance", "key-pair"} {
		if !kinds[k] {
			t.Errorf("the cluster has no %s to check", k)
		}
	}
	for r, tags := range byID {
		check(r, tags)
	}
	groups, err := autoscaling.NewFromConfig(e.cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.AutoScalingGroups {
		tags := map[string]string{}
		for _, tag := range g.Tags {
			if aws.ToBool(tag.PropagateAtLaunch) {
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
		}
		check("autoscaling group "+aws.ToString(g.AutoScalingGroupName), tags)
	}
	elbc := elb.NewFromConfig(e.cfg)
	lbs, err := elbc.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil {
		t.Fatal(err)
	}
	tgs, err := elbc.DescribeTargetGroups(ctx, &elb.DescribeTargetGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, lb := range lbs.LoadBalancers {
		arns = append(arns, aws.ToString(lb.LoadBalancerArn))
	}
	for _, tg := range tgs.TargetGroups {
		arns = append(arns, aws.ToString(tg.TargetGroupArn))
	}
	if len(arns) != 2 {
		t.Fatalf("load balancers and target groups: %v", arns)
	}
	descs, err := elbc.DescribeTags(ctx, &elb.DescribeTagsInput{ResourceArns: arns})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range descs.TagDescriptions {
		tags := map[string]string{}
		for _, tag := range d.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		check(aws.ToString(d.ResourceArn), tags)
	}
	iamc := iam.NewFromConfig(e.cfg)
	for _, name := range []string{"control-plane." + e.name, "nodes." + e.name, "bastion." + e.name} {
		r, err := iamc.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		tags := map[string]string{}
		for _, tag := range r.Role.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		check("IAM role "+name, tags)
		ip, err := iamc.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		tags = map[string]string{}
		for _, tag := range ip.InstanceProfile.Tags {
			tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		check("instance profile "+name, tags)
	}
	slices.Sort(out)
	return out
}
