package cloudup

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// partsCloud is an empty cloud whose provider adds resources of its own
// (a ResourcePlanner); it records the order of what is applied.
type partsCloud struct {
	Cloud // nil: a method the test does not expect panics
	mu    sync.Mutex
	order []string
}

func (c *partsCloud) applied(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.order, key) {
		c.order = append(c.order, key)
	}
	return nil
}

func (c *partsCloud) DNS() cloud.DNS { return nil }
func (c *partsCloud) FindNetwork(context.Context, string) (*cloud.Network, error) {
	return nil, nil
}
func (c *partsCloud) EnsureNetwork(_ context.Context, n *cloud.Network) (*cloud.Network, error) {
	return n, c.applied("Network/" + n.Cluster)
}
func (c *partsCloud) FindImage(_ context.Context, name string) (*cloud.Image, error) {
	return &cloud.Image{Name: name, ID: "img"}, nil
}
func (c *partsCloud) FindLaunchConfigs(context.Context, string) ([]*cloud.LaunchConfig, error) {
	return nil, nil
}
func (c *partsCloud) EnsureLaunchConfig(_ context.Context, lc *cloud.LaunchConfig) error {
	return c.applied("LaunchConfig/" + lc.Group)
}
func (c *partsCloud) FindInstanceGroups(context.Context, string) ([]*cloud.InstanceGroup, error) {
	return nil, nil
}
func (c *partsCloud) EnsureInstanceGroup(_ context.Context, g *cloud.InstanceGroup) error {
	return c.applied("InstanceGroup/" + g.Name)
}
func (c *partsCloud) FindLoadBalancer(context.Context, string, string) (*cloud.LoadBalancer, error) {
	return nil, nil
}
func (c *partsCloud) EnsureLoadBalancer(_ context.Context, lb *cloud.LoadBalancer) (*cloud.LoadBalancer, error) {
	return lb, c.applied("LoadBalancer/" + lb.Name)
}

func (c *partsCloud) PlanResources(net *cloud.Network) []cloud.Resource {
	r := func(kind, name string, fields map[string]string, after, neededBy []string) cloud.Resource {
		key := kind + "/" + name
		return cloud.Resource{Kind: kind, Name: name, Fields: fields, After: after, NeededBy: neededBy,
			Find:  func(context.Context) (map[string]string, error) { return nil, nil },
			Apply: func(context.Context) error { return c.applied(key) }}
	}
	netKey := "Network/" + net.Cluster
	return []cloud.Resource{
		r("SecurityGroup", "nodes", map[string]string{"description": "nodes"}, []string{netKey}, []string{"LaunchConfig", "LoadBalancer"}),
		r("SecurityGroupRules", "nodes", map[string]string{"rules": "1"}, []string{"SecurityGroup/nodes"}, []string{"LaunchConfig"}),
		r("RouteTable", "public", map[string]string{"subnets": net.Subnets[0].Name}, []string{"Subnet/" + net.Subnets[0].Name}, []string{"InstanceGroup"}),
		r("IAMRole", "nodes", map[string]string{"trustPolicy": "sha256:0"}, nil, []string{"LaunchConfig"}),
	}
}

func partsModel(t *testing.T, provider Cloud) *Model {
	t.Helper()
	_, m, _ := modelOf(t, newcluster.Options{Name: "parts.example.com", Cloud: v1alpha1.CloudAWS, KubernetesVersion: "1.37.2",
		Zones: []string{"us-east-1a"}, NodeCount: ptr.To(1), DNSZone: "example.com"}, provider)
	return m
}

// TestProviderResourcesPlanned: a provider's resources are tasks of the
// plan, printed kops-style with their fields.
func TestProviderResourcesPlanned(t *testing.T) {
	m := partsModel(t, &partsCloud{})
	plan, err := graph.BuildPlan(context.Background(), m.Tasks, nil, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := graph.PrintPlan(&out, plan, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Will create resources:", "  IAMRole/nodes\n    trustPolicy  sha256:0\n",
		"  RouteTable/public\n", "  SecurityGroup/nodes\n    description  nodes\n", "  SecurityGroupRules/nodes\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
}

// TestProviderResourcesOrdered: the graph applies a resource after what it
// names in After and before the tasks of the kinds it is needed by.
func TestProviderResourcesOrdered(t *testing.T) {
	c := &partsCloud{}
	m := partsModel(t, c)
	ctx := context.Background()
	plan, err := graph.BuildPlan(ctx, m.Tasks, nil, graph.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Apply(ctx, m.Tasks, plan, false, graph.Options{}); err != nil {
		t.Fatal(err)
	}
	at := func(key string) int {
		i := slices.Index(c.order, key)
		if i < 0 {
			t.Fatalf("%s was not applied: %v", key, c.order)
		}
		return i
	}
	for _, rule := range [][2]string{
		{"Network/parts.example.com", "SecurityGroup/nodes"},
		{"SecurityGroup/nodes", "SecurityGroupRules/nodes"},
		{"SecurityGroup/nodes", "LoadBalancer/api"},
		{"RouteTable/public", "InstanceGroup/nodes-a"},
	} {
		if at(rule[0]) > at(rule[1]) {
			t.Errorf("%s applied after %s: %v", rule[0], rule[1], c.order)
		}
	}
	for group := range m.LaunchConfigs {
		for _, r := range []string{"SecurityGroup/nodes", "SecurityGroupRules/nodes", "IAMRole/nodes"} {
			if at(r) > at("LaunchConfig/"+group) {
				t.Errorf("%s applied after LaunchConfig/%s: %v", r, group, c.order)
			}
		}
	}
}

// TestNoResourcePlanner: a provider without resources of its own (the
// local cloud) gets the model's tasks only.
func TestNoResourcePlanner(t *testing.T) {
	type plain struct{ Cloud } // hides PlanResources
	m := partsModel(t, plain{&partsCloud{}})
	for _, task := range m.Tasks {
		if _, ok := task.(*resourceTask); ok {
			t.Errorf("task %s from a provider that plans no resources", task.Key())
		}
	}
}
