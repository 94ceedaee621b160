package aws_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/nodeup"
)

// nodeupConfigs reads, for every launch template, the nodeup config its
// user-data names from the state store.
func (e *env) nodeupConfigs() map[string]nodeup.Config {
	e.t.Helper()
	ctx := context.Background()
	out, err := ec2.NewFromConfig(e.cfg).DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
	if err != nil {
		e.t.Fatal(err)
	}
	cfgs := map[string]nodeup.Config{}
	for _, v := range out.LaunchTemplateVersions {
		raw, err := base64.StdEncoding.DecodeString(aws.ToString(v.LaunchTemplateData.UserData))
		if err != nil {
			e.t.Fatal(err)
		}
		ud, err := nodeup.ParseUserData(raw)
		if err != nil {
			e.t.Fatal(err)
		}
		data, _, err := e.reg.Store().Get(ctx, ud.ConfigKey)
		if err != nil {
			e.t.Fatalf("nodeup config of %s: %v", ud.InstanceGroup, err)
		}
		var c nodeup.Config
		if err := yaml.Unmarshal(data, &c); err != nil {
			e.t.Fatal(err)
		}
		cfgs[ud.InstanceGroup] = c
	}
	return cfgs
}

func route53Calls(reqs []awstest.Request) int {
	n := 0
	for _, r := range reqs {
		if r.Service == awstest.ServiceRoute53 {
			n++
		}
	}
	return n
}

// TestAPIEndpointWithoutDNSZone: with no spec.dnsZone, a dry run before
// the load balancer exists says so and changes nothing; update --yes makes
// the load balancer first, and every machine reaches the API at its DNS
// name, which the apiserver certificate carries. No Route 53 call is made.
func TestAPIEndpointWithoutDNSZone(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "nodns.example.com", Zones: []string{"us-east-1a"}}, awstest.Options{})
	if out := e.update(false); !strings.Contains(out, "The API load balancer does not exist yet") {
		t.Errorf("dry run does not explain the endpoint:\n%s", out)
	}
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		t.Fatalf("dry run made mutating calls: %v", m)
	}
	out := e.update(true)
	if !strings.Contains(out, "creating the network and the API load balancer first") {
		t.Errorf("update output:\n%s", out)
	}
	host, err := e.provider().LoadBalancerHost(context.Background(), e.name, cloudup.APILoadBalancerName)
	if err != nil || !strings.HasPrefix(host, "api-nodns-example-com-") || !strings.HasSuffix(host, ".amazonaws.com") {
		t.Fatalf("load balancer host %q, %v", host, err)
	}
	cfgs := e.nodeupConfigs()
	if len(cfgs) != len(e.igs) {
		t.Fatalf("%d nodeup configs for %d groups", len(cfgs), len(e.igs))
	}
	for g, c := range cfgs {
		if c.APIServer != host+":443" {
			t.Errorf("%s reaches the API at %q, want %s:443", g, c.APIServer, host)
		}
		if !slices.Contains(c.APIServerNames, host) || !slices.Contains(c.APIServerNames, "api.nodns.example.com") {
			t.Errorf("%s: apiserver names %v lack the load balancer's or the public name", g, c.APIServerNames)
		}
	}
	lb, err := e.provider().FindLoadBalancer(context.Background(), e.name, cloudup.APILoadBalancerName)
	if err != nil || lb.HostAddress != host+":443" {
		t.Errorf("kubeconfig address %+v, %v; want %s:443", lb, err, host)
	}
	e.updateIsClean("the second update")
	e.delete()
	if n := route53Calls(e.srv.Requests()); n > 0 {
		t.Errorf("%d Route 53 calls without a DNS zone", n)
	}
	if left := e.srv.Leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestRoute53Alias: with spec.dnsZone naming a zone, the API name is an
// alias of the load balancer, machines and kubeconfigs use the name, a
// record removed behind hull's back shows in the plan and comes back, and
// delete removes it.
func TestRoute53Alias(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "dns.example.com", Zones: []string{"us-east-1a"}, DNSZone: "example.com"}, awstest.Options{})
	zone := e.srv.AddHostedZone("example.com")
	e.srv.AddHostedZone("example.org")
	out := e.update(true)
	if strings.Contains(out, "does not exist yet") {
		t.Errorf("a cluster with a DNS zone waited for the load balancer:\n%s", out)
	}
	recs := e.srv.Records(zone)
	if len(recs) != 1 || !strings.HasPrefix(recs[0], "api.dns.example.com. A api-dns-example-com-") {
		t.Errorf("records %v, want the API alias", recs)
	}
	for g, c := range e.nodeupConfigs() {
		if c.APIServer != "api.dns.example.com:443" {
			t.Errorf("%s reaches the API at %q", g, c.APIServer)
		}
	}
	lb, err := e.provider().FindLoadBalancer(context.Background(), e.name, cloudup.APILoadBalancerName)
	if err != nil || lb.HostAddress != "api.dns.example.com:443" {
		t.Errorf("kubeconfig address %+v, %v", lb, err)
	}
	e.srv.ResetRequests()
	e.update(true)
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		t.Errorf("second update made mutating calls: %v", m)
	}

	e.srv.DeleteRecord(zone, "api.dns.example.com.", "A")
	if out := e.update(false); !strings.Contains(out, "DNSRecord/api.dns.example.com") {
		t.Errorf("dry run does not show the missing record:\n%s", out)
	}
	e.update(true)
	if recs := e.srv.Records(zone); len(recs) != 1 {
		t.Errorf("record not repaired: %v", recs)
	}
	e.delete()
	if recs := e.srv.Records(zone); len(recs) != 0 {
		t.Errorf("records after delete: %v", recs)
	}
}

// TestDNSZoneByID: spec.dnsZone may be the zone's id, which tells apart
// two zones of one name; a name that matches two zones, or none, is an
// error naming spec.dnsZone; a public name outside the zone one naming
// spec.api.publicName.
func TestDNSZoneByID(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "byid.example.com", Zones: []string{"us-east-1a"}, DNSZone: "example.com"}, awstest.Options{})
	var out strings.Builder
	if _, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Out: &out}); err == nil ||
		!strings.Contains(err.Error(), "spec.dnsZone: the account has no Route 53 hosted zone named example.com.") {
		t.Errorf("missing zone: %v", err)
	}
	first := e.srv.AddHostedZone("example.com")
	e.srv.AddHostedZone("example.com")
	if _, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Out: &out}); err == nil ||
		!strings.Contains(err.Error(), "set spec.dnsZone to the id") {
		t.Errorf("two zones of one name: %v", err)
	}
	e.setDNSZone(first)
	e.update(true)
	if recs := e.srv.Records(first); len(recs) != 1 {
		t.Errorf("records of %s: %v", first, recs)
	}
	e.delete()
	if recs := e.srv.Records(first); len(recs) != 0 {
		t.Errorf("records after delete: %v", recs)
	}
	e.setDNSZone(e.srv.AddHostedZone("example.org"))
	if _, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Out: &out}); err == nil ||
		!strings.Contains(err.Error(), "spec.api.publicName: api.byid.example.com. is not inside hosted zone example.org.") {
		t.Errorf("public name outside the zone: %v", err)
	}
}
