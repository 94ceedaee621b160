package awsmodel

import (
	"fmt"
	"strings"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// LoadBalancer is the API NLB, its target group and its listener.
type LoadBalancer struct {
	Name string
	// Scheme is internet-facing or internal.
	Scheme string
	// Subnets holds one subnet name per zone.
	Subnets       []string
	SecurityGroup string // key
	Port          int32
	// HealthCheckProtocol and Path probe the apiserver.
	HealthCheckProtocol string
	HealthCheckPath     string
	// DNSName is the API name a Route 53 alias points at the NLB.
	DNSName string
	Tags    map[string]string
}

// Schemes.
const (
	SchemeInternetFacing = "internet-facing"
	SchemeInternal       = "internal"
)

// loadBalancer places an internet-facing NLB in the subnets that have a
// route to the internet gateway (Utility in a private topology, Public in a
// public one) and an internal one in the subnets the control plane uses.
func loadBalancer(c *v1alpha1.Cluster, m *Cluster) (LoadBalancer, error) {
	lb := LoadBalancer{
		Name: LoadBalancerName(c.Metadata.Name), Scheme: SchemeInternetFacing, SecurityGroup: SGAPILB,
		Port: PortAPI, HealthCheckProtocol: "HTTPS", HealthCheckPath: "/readyz", DNSName: c.Spec.API.PublicName,
		Tags: withTags(m.Tags, TagName, "api."+c.Metadata.Name),
	}
	want := []v1alpha1.SubnetType{v1alpha1.SubnetPublic, v1alpha1.SubnetUtility}
	if c.Spec.API.LoadBalancer != nil && c.Spec.API.LoadBalancer.Type == v1alpha1.LoadBalancerInternal {
		lb.Scheme = SchemeInternal
		if c.Spec.Networking.Topology == v1alpha1.TopologyPrivate {
			want = []v1alpha1.SubnetType{v1alpha1.SubnetPrivate}
		}
	}
	zones := map[string]bool{}
	for _, s := range m.Subnets {
		for _, t := range want {
			if s.Type == t && !zones[s.Zone] {
				zones[s.Zone] = true
				lb.Subnets = append(lb.Subnets, s.Name)
			}
		}
	}
	if len(lb.Subnets) == 0 {
		return lb, fmt.Errorf("api load balancer: no %v subnet to place it in", want)
	}
	return lb, nil
}

// LaunchTemplate is what a group's machines boot with.
type LaunchTemplate struct {
	Name            string
	Group           string
	Role            v1alpha1.InstanceGroupRole
	ImageName       string
	InstanceType    string
	SecurityGroup   string // key
	InstanceProfile string
	// KeyName is the EC2 key pair for SSH, "" for none (the caller sets it
	// from Cluster.KeyPair).
	KeyName string
	// RootVolumeSize is in GiB; the root volume is gp3 and encrypted.
	RootVolumeSize int32
	// HTTPTokens "required" is IMDSv2 only; a hop limit of 1 keeps the
	// metadata service from pods on the pod network.
	HTTPTokens   string
	HTTPHopLimit int32
	// Tags are on the template; InstanceTags on its instances and volumes.
	Tags         map[string]string
	InstanceTags map[string]string
}

// RootVolumeSizes per role, in GiB: room for images and etcd on the
// control plane, for images and pods on nodes; a bastion holds only sshd.
var RootVolumeSizes = map[v1alpha1.InstanceGroupRole]int32{
	v1alpha1.RoleControlPlane: 64, v1alpha1.RoleNode: 128, v1alpha1.RoleBastion: 16,
}

// GroupTags are on a group's launch template, its autoscaling group and its
// machines.
func (m *Cluster) GroupTags(group string, role v1alpha1.InstanceGroupRole) map[string]string {
	return withTags(m.Tags, TagName, GroupResourceName(m.Name, group), TagInstanceGroup, group, TagRole, string(role))
}

// NewLaunchTemplate describes the launch template of a group.
func (m *Cluster) NewLaunchTemplate(group string, role v1alpha1.InstanceGroupRole, image, machineType string) LaunchTemplate {
	cluster, tags := m.Name, m.GroupTags(group, role)
	return LaunchTemplate{
		Name: GroupResourceName(cluster, group), Group: group, Role: role,
		ImageName: image, InstanceType: machineType,
		SecurityGroup: RoleKey(role), InstanceProfile: IAMName(cluster, role),
		RootVolumeSize: RootVolumeSizes[role], HTTPTokens: "required", HTTPHopLimit: 1,
		Tags: tags, InstanceTags: tags,
	}
}

// AutoScalingGroup keeps a group's machines running.
type AutoScalingGroup struct {
	Name           string
	LaunchTemplate string
	MinSize        int32
	MaxSize        int32
	Subnets        []string
	// TargetGroup says its machines are API load balancer targets.
	TargetGroup bool
	// Tags propagate to the machines at launch.
	Tags map[string]string
}

// NewAutoScalingGroup describes the autoscaling group of a group.
func (m *Cluster) NewAutoScalingGroup(group string, role v1alpha1.InstanceGroupRole, minSize, maxSize int32, subnets []string) AutoScalingGroup {
	name := GroupResourceName(m.Name, group)
	return AutoScalingGroup{
		Name: name, LaunchTemplate: name, MinSize: minSize, MaxSize: maxSize, Subnets: subnets,
		TargetGroup: role == v1alpha1.RoleControlPlane,
		Tags:        m.GroupTags(group, role),
	}
}

// ParseRole reads a role name as cloud.InstanceGroup carries it.
func ParseRole(s string) (v1alpha1.InstanceGroupRole, error) {
	for _, r := range []v1alpha1.InstanceGroupRole{v1alpha1.RoleControlPlane, v1alpha1.RoleNode, v1alpha1.RoleBastion} {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown instance group role %q", s)
}
