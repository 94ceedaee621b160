package awsmodel

import (
	"fmt"
	"slices"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Cluster is the AWS shape of a completed cluster: everything but the
// per-group launch templates and autoscaling groups.
type Cluster struct {
	Name string
	// Owner is the cluster's identity; Tags, on every resource
	// (ClusterTags), carry it.
	Owner cloud.Owner
	Tags  map[string]string
	VPC   VPC
	// Subnets in spec order.
	Subnets        []Subnet
	NATGateways    []NATGateway
	RouteTables    []RouteTable
	SecurityGroups []SecurityGroup
	Roles          []IAMRole
	LoadBalancer   LoadBalancer
	// KeyPair is what launch templates name for SSH; zero for none.
	KeyPair KeyPair
	// Bastion says the cluster has a bastion security group.
	Bastion bool
}

// VPC is the cluster network. With ID set it is adopted: never created,
// modified or deleted, and not tagged.
type VPC struct {
	ID   string
	CIDR string
	Tags map[string]string
}

// Subnet is one subnet of the spec.
type Subnet struct {
	Name string
	Zone string
	CIDR string
	Type v1alpha1.SubnetType
	// ID adopts an existing subnet: hull neither creates nor routes it.
	ID string
	// MapPublicIP gives instances launched in it a public address.
	MapPublicIP bool
	// RouteTable is the key of its route table.
	RouteTable string
	Tags       map[string]string
}

// Resource is the TagResource value of a subnet.
func (s Subnet) Resource() string { return "subnet/" + s.Name }

// NATGateway gives the private subnets of one zone a way out. It sits in a
// utility subnet of the zone with an elastic IP of its own.
type NATGateway struct {
	Key    string // nat-<zone>
	Zone   string
	Subnet string // subnet name
	Tags   map[string]string
}

// Resource is the TagResource value of the NAT gateway and its address.
func (n NATGateway) Resource() string { return "nat/" + n.Zone }

// RouteTable routes its subnets' default route to the internet gateway
// (Target "igw") or to a NAT gateway (Target the NAT key).
type RouteTable struct {
	Key     string // public, private-<zone>
	Target  string
	Subnets []string
	Tags    map[string]string
}

// Resource is the TagResource value of the route table.
func (r RouteTable) Resource() string { return "rtb/" + r.Key }

// TargetIGW is the internet gateway as a route target.
const TargetIGW = "igw"

// Build derives the AWS network, security groups, IAM roles and API load
// balancer of a completed cluster, every resource tagged for owner (a zero
// owner: the cluster name only, as hull did before clusters had an identity).
func Build(c *v1alpha1.Cluster, owner cloud.Owner) (*Cluster, error) {
	name := c.Metadata.Name
	n := c.Spec.Networking
	m := &Cluster{Name: name, Owner: owner, Tags: ClusterTags(name, owner)}
	m.VPC = VPC{ID: n.NetworkID, CIDR: n.NetworkCIDR, Tags: withTags(m.Tags, TagName, name, TagResource, "vpc")}
	if m.VPC.ID != "" {
		m.VPC.Tags = nil
	}
	private := n.Topology == v1alpha1.TopologyPrivate
	utilityByZone := map[string]string{}
	for _, s := range n.Subnets {
		if s.Type == v1alpha1.SubnetUtility || (private && s.Type == v1alpha1.SubnetPublic) {
			if _, ok := utilityByZone[s.Zone]; !ok {
				utilityByZone[s.Zone] = s.Name
			}
		}
	}
	public := RouteTable{Key: "public", Target: TargetIGW}
	privateTables := map[string]*RouteTable{}
	var zones []string
	for _, s := range n.Subnets {
		sub := Subnet{Name: s.Name, Zone: s.Zone, CIDR: s.CIDR, Type: s.Type, ID: s.ID}
		sub.Tags = withTags(m.Tags, TagName, s.Name+"."+name, TagResource, sub.Resource(), TagSubnetType, string(s.Type))
		switch s.Type {
		case v1alpha1.SubnetPublic, v1alpha1.SubnetUtility:
			sub.MapPublicIP = true
			sub.RouteTable = public.Key
			if s.ID == "" {
				public.Subnets = append(public.Subnets, s.Name)
			}
		case v1alpha1.SubnetPrivate:
			nat, ok := utilityByZone[s.Zone]
			if !ok {
				return nil, fmt.Errorf("subnet %s: zone %s has no utility subnet to hold its NAT gateway", s.Name, s.Zone)
			}
			rt := privateTables[s.Zone]
			if rt == nil {
				rt = &RouteTable{Key: "private-" + s.Zone, Target: "nat-" + s.Zone}
				privateTables[s.Zone] = rt
				zones = append(zones, s.Zone)
				m.NATGateways = append(m.NATGateways, NATGateway{Key: "nat-" + s.Zone, Zone: s.Zone, Subnet: nat})
			}
			sub.RouteTable = rt.Key
			if s.ID == "" {
				rt.Subnets = append(rt.Subnets, s.Name)
			}
		default:
			return nil, fmt.Errorf("subnet %s: unknown type %q", s.Name, s.Type)
		}
		m.Subnets = append(m.Subnets, sub)
	}
	m.RouteTables = append(m.RouteTables, public)
	for _, z := range zones {
		m.RouteTables = append(m.RouteTables, *privateTables[z])
	}
	for i := range m.RouteTables {
		rt := &m.RouteTables[i]
		rt.Tags = withTags(m.Tags, TagName, rt.Key+"."+name, TagResource, rt.Resource())
	}
	for i := range m.NATGateways {
		nat := &m.NATGateways[i]
		nat.Tags = withTags(m.Tags, TagName, nat.Zone+"."+name, TagResource, nat.Resource())
	}
	m.Bastion = c.Spec.Bastion != nil
	m.KeyPair = keyPair(c, m.Tags)
	m.SecurityGroups = securityGroups(c, m.Bastion, m.Tags)
	var err error
	if m.Roles, err = iamRoles(c, m.Tags); err != nil {
		return nil, err
	}
	if m.LoadBalancer, err = loadBalancer(c, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Subnet returns the subnet named name.
func (m *Cluster) Subnet(name string) (Subnet, bool) {
	i := slices.IndexFunc(m.Subnets, func(s Subnet) bool { return s.Name == name })
	if i < 0 {
		return Subnet{}, false
	}
	return m.Subnets[i], true
}

// SecurityGroup returns the group with key.
func (m *Cluster) SecurityGroup(key string) (SecurityGroup, bool) {
	i := slices.IndexFunc(m.SecurityGroups, func(s SecurityGroup) bool { return s.Key == key })
	if i < 0 {
		return SecurityGroup{}, false
	}
	return m.SecurityGroups[i], true
}

// Role returns the IAM role of a group role.
func (m *Cluster) Role(role v1alpha1.InstanceGroupRole) (IAMRole, bool) {
	i := slices.IndexFunc(m.Roles, func(r IAMRole) bool { return r.Role == role })
	if i < 0 {
		return IAMRole{}, false
	}
	return m.Roles[i], true
}
