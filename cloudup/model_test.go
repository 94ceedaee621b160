package cloudup

import (
	"context"
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/state"
)

func awsModel(t *testing.T) (*v1alpha1.Cluster, *Model, *state.Store) {
	t.Helper()
	return modelOf(t, newcluster.Options{Name: "model.example.com", Cloud: v1alpha1.CloudAWS, KubernetesVersion: "1.37.2",
		Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, ControlPlaneCount: ptr.To(3), Topology: v1alpha1.TopologyPrivate, Bastion: true, DNSZone: "example.com"}, nil)
}

// modelOf is the model of the cluster `hull create cluster` makes for o,
// against provider (nil: none), with its store.
func modelOf(t *testing.T, o newcluster.Options, provider Cloud) (*v1alpha1.Cluster, *Model, *state.Store) {
	t.Helper()
	c, igs, err := newcluster.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if c, igs, err = completion.Complete(c, igs, completion.Options{ConfigBase: "mem://model/" + o.Name}); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(context.Background(), "mem://model-"+strings.ToLower(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := BuildModel(c, igs, provider, store)
	if err != nil {
		t.Fatal(err)
	}
	return c, m, store
}

// TestLaunchConfigsDependOnNetwork: a launch template names the network's
// security groups, so the graph must create the network first.
func TestLaunchConfigsDependOnNetwork(t *testing.T) {
	c, m, _ := awsModel(t)
	network := "Network/" + c.Metadata.Name
	n := 0
	for _, task := range m.Tasks {
		if !strings.HasPrefix(task.Key(), "LaunchConfig/") {
			continue
		}
		n++
		if !slices.Contains(task.Dependencies(), network) {
			t.Errorf("%s depends on %v, want %s among them", task.Key(), task.Dependencies(), network)
		}
	}
	if n != len(m.LaunchConfigs) || n == 0 {
		t.Errorf("%d launch config tasks, %d launch configs", n, len(m.LaunchConfigs))
	}
}

// TestNodeupConfigsMatchUserData: every group's user-data names a config
// the model exposes, under that key and with that hash, and
// WriteNodeupConfigs stores exactly those bytes.
func TestNodeupConfigsMatchUserData(t *testing.T) {
	_, m, store := awsModel(t)
	ctx := context.Background()
	if len(m.NodeupConfigs) != len(m.LaunchConfigs) {
		t.Fatalf("%d nodeup configs for %d launch configs", len(m.NodeupConfigs), len(m.LaunchConfigs))
	}
	if err := m.WriteNodeupConfigs(ctx, store); err != nil {
		t.Fatal(err)
	}
	for group, lc := range m.LaunchConfigs {
		ud, err := nodeup.ParseUserData(lc.UserData)
		if err != nil {
			t.Fatalf("%s: %v", group, err)
		}
		nc, ok := m.NodeupConfigs[group]
		if !ok || nc.Key != ud.ConfigKey {
			t.Errorf("%s: user-data names %s, model has %+v", group, ud.ConfigKey, nc.Key)
			continue
		}
		data, _, err := store.Get(ctx, nc.Key)
		if err != nil {
			t.Fatalf("%s: stored config: %v", group, err)
		}
		if _, err := nodeup.VerifyConfig(ud, data); err != nil {
			t.Errorf("%s: stored config does not verify against the user-data: %v", group, err)
		}
	}
}

// TestAPIEndpointOfLoadBalancer: without a DNS zone an AWS model needs the
// load balancer's name, and then every machine reaches the API there and
// the apiserver certificate carries it besides the public name.
func TestAPIEndpointOfLoadBalancer(t *testing.T) {
	c, igs, err := newcluster.Build(newcluster.Options{Name: "lb.example.com", Cloud: v1alpha1.CloudAWS, KubernetesVersion: "1.37.2",
		Zones: []string{"us-east-1a"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, igs, err = completion.Complete(c, igs, completion.Options{ConfigBase: "mem://model/lb.example.com"}); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(context.Background(), "mem://model-lb")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := BuildModel(c, igs, nil, store); err == nil || !strings.Contains(err.Error(), "no spec.dnsZone") {
		t.Errorf("model without the load balancer's name: %v", err)
	}
	const host = "api-lb-example-com-0123abcd.elb.us-east-1.amazonaws.com"
	m, err := BuildModelWith(c, igs, nil, store, ModelOptions{APIHost: host})
	if err != nil {
		t.Fatal(err)
	}
	for group, nc := range m.NodeupConfigs {
		var cfg nodeup.Config
		if err := yaml.Unmarshal(nc.Data, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.APIServer != host+":443" || !slices.Contains(cfg.APIServerNames, host) || !slices.Contains(cfg.APIServerNames, "api.lb.example.com") {
			t.Errorf("%s: API at %s, names %v", group, cfg.APIServer, cfg.APIServerNames)
		}
	}
}
