package aws_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// apiLoadBalancer describes the cluster's NLB and names its subnets.
func (e *env) apiLoadBalancer() (elbtypes.LoadBalancer, []string) {
	e.t.Helper()
	ctx := context.Background()
	out, err := elb.NewFromConfig(e.cfg).DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil || len(out.LoadBalancers) != 1 {
		e.t.Fatalf("load balancers %+v, %v", out, err)
	}
	lb := out.LoadBalancers[0]
	var ids []string
	for _, z := range lb.AvailabilityZones {
		ids = append(ids, aws.ToString(z.SubnetId))
	}
	subnets, err := ec2.NewFromConfig(e.cfg).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: ids})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, s := range subnets.Subnets {
		for _, t := range s.Tags {
			if aws.ToString(t.Key) == "Name" {
				names = append(names, strings.TrimSuffix(aws.ToString(t.Value), "."+e.name))
			}
		}
	}
	slices.Sort(names)
	return lb, names
}

// TestInternalLoadBalancer: spec.api.loadBalancer.type Internal makes the
// NLB internal, in the private subnets of a private topology (the public
// ones of a public topology); machines reach it at its DNS name; turning
// it public is refused, since a load balancer's scheme cannot change.
func TestInternalLoadBalancer(t *testing.T) {
	for _, tc := range []struct {
		topology string
		subnets  []string
	}{
		{v1alpha1.TopologyPrivate, []string{"us-east-1a", "us-east-1b"}},
		{v1alpha1.TopologyPublic, []string{"us-east-1a", "us-east-1b"}},
	} {
		t.Run(tc.topology, func(t *testing.T) {
			e := newEnv(t, newcluster.Options{Name: "internal-" + tc.topology + ".example.com", Zones: []string{"us-east-1a", "us-east-1b"},
				Topology: tc.topology, Bastion: tc.topology == v1alpha1.TopologyPrivate}, awstest.Options{})
			e.editCluster(func(s *v1alpha1.ClusterSpec) { s.API.LoadBalancer.Type = v1alpha1.LoadBalancerInternal })
			e.update(true)
			lb, subnets := e.apiLoadBalancer()
			if lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternal {
				t.Errorf("scheme %s, want internal", lb.Scheme)
			}
			if !slices.Equal(subnets, tc.subnets) {
				t.Errorf("load balancer in subnets %v, want %v", subnets, tc.subnets)
			}
			for g, c := range e.nodeupConfigs() {
				if c.APIServer != aws.ToString(lb.DNSName)+":443" {
					t.Errorf("%s reaches the API at %s", g, c.APIServer)
				}
			}
			found, err := e.provider().FindLoadBalancer(context.Background(), e.name, cloudup.APILoadBalancerName)
			if err != nil || found.Type != string(v1alpha1.LoadBalancerInternal) {
				t.Errorf("found %+v, %v", found, err)
			}
			e.srv.ResetRequests()
			if out := e.update(true); !strings.Contains(out, "No changes") {
				t.Errorf("second update:\n%s", out)
			}

			e.editCluster(func(s *v1alpha1.ClusterSpec) { s.API.LoadBalancer.Type = v1alpha1.LoadBalancerPublic })
			var out strings.Builder
			if _, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Out: &out}); err == nil ||
				!strings.Contains(err.Error(), "LoadBalancer/api") || !strings.Contains(err.Error(), "type") {
				t.Errorf("making the load balancer public: %v\n%s", err, out.String())
			}
			e.delete()
		})
	}
}
