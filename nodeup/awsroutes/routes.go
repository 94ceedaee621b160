package awsroutes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
)

// DefaultInterval is how often the control plane reconciles the routes,
// as often as Kubernetes' own cloud route controller.
const DefaultInterval = 10 * time.Second

// EC2 is the part of the EC2 API the controller uses.
type EC2 interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	ModifyInstanceAttribute(context.Context, *ec2.ModifyInstanceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyInstanceAttributeOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	CreateRoute(context.Context, *ec2.CreateRouteInput, ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	ReplaceRoute(context.Context, *ec2.ReplaceRouteInput, ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	DeleteRoute(context.Context, *ec2.DeleteRouteInput, ...func(*ec2.Options)) (*ec2.DeleteRouteOutput, error)
}

// Controller keeps, in every route table tagged for the cluster, a route
// from each node's pod CIDR to the node's instance (found by its
// InternalIP), and removes routes inside the cluster's pod CIDR that no
// node claims. It is what kubenet's cloud route controller does on AWS;
// with it, pod traffic crosses subnets and zones through the VPC router,
// so machines need no routes of their own. A VPC route table holds 50
// routes unless the quota is raised, which bounds the nodes a cluster has.
type Controller struct {
	EC2     EC2
	Cluster string
	// PodCIDR is the cluster's pod range: routes inside it are the
	// controller's, every other route is left alone.
	PodCIDR netip.Prefix
	Log     *slog.Logger
}

type instance struct {
	id             string
	sourceDestTest bool // the source/destination check is on
}

// Sync makes the route tables match the nodes once. It carries on past a
// failure and returns every error.
func (c *Controller) Sync(ctx context.Context, nodes []corev1.Node) error {
	want := map[string]string{} // pod CIDR -> node InternalIP
	for _, n := range nodes {
		pfx, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil || !c.PodCIDR.Contains(pfx.Addr()) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Is4() {
				want[pfx.Masked().String()] = ip.String()
				break
			}
		}
	}
	instances, err := c.instances(ctx, want)
	if err != nil {
		return err
	}
	var errs []error
	for _, ip := range sortedValues(want) {
		in, ok := instances[ip]
		if !ok || !in.sourceDestTest {
			continue
		}
		if _, err := c.EC2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: aws.String(in.id),
			SourceDestCheck: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
			errs = append(errs, fmt.Errorf("turn off the source/destination check of %s: %w", in.id, err))
			continue
		}
		c.Log.Info("source/destination check off", "instance", in.id, "address", ip)
	}
	tables, err := c.routeTables(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, t := range tables {
		errs = append(errs, c.syncTable(ctx, t, want, instances)...)
	}
	return errors.Join(errs...)
}

func (c *Controller) syncTable(ctx context.Context, t ec2types.RouteTable, want map[string]string, instances map[string]instance) []error {
	var errs []error
	table := aws.ToString(t.RouteTableId)
	have := map[string]ec2types.Route{}
	for _, r := range t.Routes {
		pfx, err := netip.ParsePrefix(aws.ToString(r.DestinationCidrBlock))
		if err == nil && pfx.Bits() >= c.PodCIDR.Bits() && c.PodCIDR.Contains(pfx.Addr()) &&
			(r.InstanceId != nil || r.NetworkInterfaceId != nil) {
			have[pfx.String()] = r
		}
	}
	for _, cidr := range slices.Sorted(maps.Keys(want)) {
		in, ok := instances[want[cidr]]
		if !ok {
			continue // not (yet) an instance of the cluster: keep what is there
		}
		r, exists := have[cidr]
		if exists && aws.ToString(r.InstanceId) == in.id && r.State != ec2types.RouteStateBlackhole {
			continue
		}
		var err error
		if !exists {
			_, err = c.EC2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: t.RouteTableId, DestinationCidrBlock: aws.String(cidr),
				InstanceId: aws.String(in.id)})
		}
		if exists || code(err) == "RouteAlreadyExists" {
			_, err = c.EC2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: t.RouteTableId, DestinationCidrBlock: aws.String(cidr),
				InstanceId: aws.String(in.id)})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("route %s to %s in %s: %w", cidr, in.id, table, err))
			continue
		}
		c.Log.Info("pod route set", "cidr", cidr, "instance", in.id, "routeTable", table)
	}
	for _, cidr := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[cidr]; ok {
			continue
		}
		_, err := c.EC2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: t.RouteTableId, DestinationCidrBlock: aws.String(cidr)})
		if err != nil && code(err) != "InvalidRoute.NotFound" {
			errs = append(errs, fmt.Errorf("delete route %s from %s: %w", cidr, table, err))
			continue
		}
		c.Log.Info("pod route removed", "cidr", cidr, "routeTable", table)
	}
	return errs
}

// instances finds the cluster's instances with the nodes' addresses, in
// one paginated call.
func (c *Controller) instances(ctx context.Context, want map[string]string) (map[string]instance, error) {
	out := map[string]instance{}
	ips := sortedValues(want)
	if len(ips) == 0 {
		return out, nil
	}
	pages := ec2.NewDescribeInstancesPaginator(c.EC2, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + awsmodel.TagCluster), Values: []string{c.Cluster}},
		{Name: aws.String("private-ip-address"), Values: ips},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
	}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe the instances of cluster %s: %w", c.Cluster, err)
		}
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				out[aws.ToString(i.PrivateIpAddress)] = instance{id: aws.ToString(i.InstanceId), sourceDestTest: aws.ToBool(i.SourceDestCheck)}
			}
		}
	}
	return out, nil
}

func (c *Controller) routeTables(ctx context.Context) ([]ec2types.RouteTable, error) {
	var out []ec2types.RouteTable
	pages := ec2.NewDescribeRouteTablesPaginator(c.EC2, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("tag:" + awsmodel.TagCluster), Values: []string{c.Cluster}}}})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describe the route tables of cluster %s: %w", c.Cluster, err)
		}
		out = append(out, page.RouteTables...)
	}
	return out, nil
}

// Run syncs every interval until ctx ends, logging failures.
func (c *Controller) Run(ctx context.Context, kube kubernetes.Interface, every time.Duration) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			err = c.Sync(ctx, nodes.Items)
		}
		if err != nil && ctx.Err() == nil {
			c.Log.Warn("VPC pod route sync failed", "err", err)
		}
	}, every)
}

// New builds a controller from the standard AWS chain: on an instance,
// its role's credentials and the instance metadata's region.
func New(ctx context.Context, cluster, podCIDR string, log *slog.Logger) (*Controller, error) {
	pods, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithEC2IMDSRegion())
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	return &Controller{EC2: ec2.NewFromConfig(cfg), Cluster: cluster, PodCIDR: pods.Masked(), Log: log}, nil
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// sortedValues is m's distinct values, sorted.
func sortedValues(m map[string]string) []string {
	return slices.Compact(slices.Sorted(maps.Values(m)))
}

var _ EC2 = (*ec2.Client)(nil)
