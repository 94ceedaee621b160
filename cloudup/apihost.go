package cloudup

import (
	"context"
	"fmt"
	"strings"

	"github.com/hullproject/hull/cloudup/graph"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
)

// UsesLoadBalancerName reports whether machines and clients reach the API
// at the API load balancer's own DNS name, which the cloud assigns when it
// makes the load balancer, rather than at a host the spec tells (the
// cloud's driver decides, see cloud.Driver.APIHost). The apiserver
// certificate carries that name (besides the public name and the
// additional SANs).
func UsesLoadBalancerName(c *v1alpha1.Cluster) bool {
	d, err := cloud.Lookup(c.Spec.CloudProvider)
	if err != nil {
		return false
	}
	host, err := d.APIHost(c)
	return err == nil && host == ""
}

// pendingAPIHost stands for the load balancer's DNS name in a dry run made
// before the load balancer exists. Nothing carrying it is ever written:
// update --yes makes the load balancer before any launch config.
const pendingAPIHost = "api-load-balancer-not-created-yet.invalid"

// apiHostFor is the host machines reach the API at when the cloud names it
// ("" when spec.api.publicName serves). With --yes and no load balancer
// yet, it first makes the network and the API load balancer, so that the
// nodeup configs and launch configs name the real host.
func apiHostFor(ctx context.Context, reg *registry.Registry, provider Cloud, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, o UpdateOptions) (string, error) {
	if !UsesLoadBalancerName(c) {
		return "", nil
	}
	name := c.Metadata.Name
	host, err := provider.LoadBalancerHost(ctx, name, APILoadBalancerName)
	if err != nil {
		return "", fmt.Errorf("cluster %s: find the API load balancer's DNS name: %w", name, err)
	}
	if host != "" {
		return host, nil
	}
	if !o.Yes {
		fmt.Fprintf(o.Out, "The API load balancer does not exist yet. Machines will reach the API at the DNS name AWS gives it,\n"+
			"so `update --yes` creates it (and the network) before the launch configs; set spec.dnsZone to use %s instead.\n\n",
			c.Spec.API.PublicName)
		return pendingAPIHost, nil
	}
	if err := createAPILoadBalancer(ctx, reg, provider, c, igs, o); err != nil {
		return "", err
	}
	host, err = provider.LoadBalancerHost(ctx, name, APILoadBalancerName)
	if err != nil {
		return "", fmt.Errorf("cluster %s: find the API load balancer's DNS name: %w", name, err)
	}
	if host == "" {
		return "", fmt.Errorf("cluster %s: the API load balancer has no DNS name after it was created", name)
	}
	return host, nil
}

// createAPILoadBalancer applies only the API load balancer and what it
// depends on (the network, its subnets, the provider's security groups);
// the groups attach to it when they are made.
func createAPILoadBalancer(ctx context.Context, reg *registry.Registry, provider Cloud, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, o UpdateOptions) error {
	name := c.Metadata.Name
	m, err := BuildModelWith(c, igs, provider, reg.Store(), ModelOptions{APIHost: pendingAPIHost})
	if err != nil {
		return err
	}
	tasks := withDependencies(m.Tasks, func(t graph.Task) bool { return strings.HasPrefix(t.Key(), "LoadBalancer/") })
	gopts := o.Graph
	if gopts.IsRetryable == nil {
		gopts.IsRetryable = cloud.IsTransient
	}
	plan, err := graph.BuildPlan(cloud.WithPlanReads(ctx), tasks, nil, gopts)
	if err != nil {
		return fmt.Errorf("plan the API load balancer of %s: %w", name, err)
	}
	progress := output.NewProgress(o.Out)
	progress.Step("Cluster %s: creating the network and the API load balancer first; machines reach the API at its DNS name", name)
	if err := graph.Apply(cloud.WithPlanReads(ctx), tasks, plan, false, gopts); err != nil {
		return fmt.Errorf("update cluster %s: create the API load balancer: %w", name, err)
	}
	return nil
}

// withDependencies is the tasks keep selects and every task they depend
// on, directly or not, in the order of tasks.
func withDependencies(tasks []graph.Task, keep func(graph.Task) bool) []graph.Task {
	byKey := make(map[string]graph.Task, len(tasks))
	for _, t := range tasks {
		byKey[t.Key()] = t
	}
	want := map[string]bool{}
	var visit func(key string)
	visit = func(key string) {
		if want[key] {
			return
		}
		want[key] = true
		if t, ok := byKey[key]; ok {
			for _, d := range t.Dependencies() {
				visit(d)
			}
		}
	}
	for _, t := range tasks {
		if keep(t) {
			visit(t.Key())
		}
	}
	var out []graph.Task
	for _, t := range tasks {
		if want[t.Key()] {
			out = append(out, t)
		}
	}
	return out
}
