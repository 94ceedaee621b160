package awsmodel

import (
	"fmt"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// Ports the rules open.
const (
	PortAPI     = 443
	PortKubelet = 10250
	PortSSH     = 22
	// PortEtcdFirst and PortEtcdLast bound the ports cloudup gives etcd
	// clusters on control-plane machines (main 2379-2380, events
	// 2381-2382, further clusters upward): nodes never reach them.
	PortEtcdFirst = 2379
	PortEtcdLast  = 2399
)

// AnyCIDR is where SSH and the API are open from when the spec names no
// sshAccess or kubernetesAPIAccess, as in kops.
const AnyCIDR = "0.0.0.0/0"

// SecurityGroup is one group and its ingress rules; egress stays AWS's
// default (all).
type SecurityGroup struct {
	Key         string
	Name        string
	Description string
	Ingress     []Rule
	Tags        map[string]string
}

// Resource is the TagResource value of the group.
func (s SecurityGroup) Resource() string { return "sg/" + s.Key }

// Rule opens ports from a CIDR or from another group (Source, a key).
// Protocol "-1" is every protocol and port.
type Rule struct {
	Protocol    string
	FromPort    int32
	ToPort      int32
	CIDR        string
	Source      string
	Description string
}

// ID identifies a rule for comparison, without its description.
func (r Rule) ID() string {
	from := r.CIDR
	if r.Source != "" {
		from = "sg:" + r.Source
	}
	if r.Protocol == "-1" {
		return "all/" + from
	}
	return fmt.Sprintf("%s/%d-%d/%s", r.Protocol, r.FromPort, r.ToPort, from)
}

func allFrom(src, why string) Rule { return Rule{Protocol: "-1", Source: src, Description: why} }

func tcpFrom(port int32, src, why string) Rule {
	return Rule{Protocol: "tcp", FromPort: port, ToPort: port, Source: src, Description: why}
}

func rangeFrom(proto string, from, to int32, src, why string) Rule {
	return Rule{Protocol: proto, FromPort: from, ToPort: to, Source: src, Description: why}
}

func tcpFromCIDRs(port int32, cidrs []string, why string) []Rule {
	if len(cidrs) == 0 {
		cidrs = []string{AnyCIDR}
	}
	var out []Rule
	for _, c := range cidrs {
		out = append(out, Rule{Protocol: "tcp", FromPort: port, ToPort: port, CIDR: c, Description: why})
	}
	return out
}

// securityGroups: nodes and the control plane talk freely among
// themselves and the control plane to the nodes; nodes reach the control
// plane on every port but etcd's, since pod traffic (routed through the
// VPC, with pod addresses) flows between pods on any machine, as kops
// allows it for kubenet; the API is open from kubernetesAPIAccess through
// the load balancer only; SSH is open from sshAccess to the bastion, or,
// with no bastion, to the machines themselves.
func securityGroups(c *v1alpha1.Cluster, bastion bool, tags map[string]string) []SecurityGroup {
	name := c.Metadata.Name
	ssh := func() []Rule {
		if bastion {
			return []Rule{tcpFrom(PortSSH, SGBastion, "ssh from the bastion")}
		}
		return tcpFromCIDRs(PortSSH, c.Spec.SSHAccess, "ssh from sshAccess")
	}
	lb := SecurityGroup{Key: SGAPILB, Description: "Kubernetes API load balancer of " + name}
	lb.Ingress = append(tcpFromCIDRs(PortAPI, c.Spec.KubernetesAPIAccess, "api from kubernetesAPIAccess"),
		tcpFrom(PortAPI, SGNodes, "api from nodes"),
		tcpFrom(PortAPI, SGControlPlane, "api from the control plane"))

	cp := SecurityGroup{Key: SGControlPlane, Description: "control plane of " + name}
	cp.Ingress = append([]Rule{
		allFrom(SGControlPlane, "control plane to control plane"),
		tcpFrom(PortAPI, SGAPILB, "api from the load balancer"),
		rangeFrom("tcp", 1, PortEtcdFirst-1, SGNodes, "nodes and their pods, below etcd"),
		rangeFrom("tcp", PortEtcdLast+1, 65535, SGNodes, "nodes and their pods, above etcd"),
		rangeFrom("udp", 1, 65535, SGNodes, "nodes and their pods"),
		rangeFrom("icmp", -1, -1, SGNodes, "nodes and their pods: ICMP (path MTU)"),
	}, ssh()...)

	nodes := SecurityGroup{Key: SGNodes, Description: "nodes of " + name}
	nodes.Ingress = append([]Rule{
		allFrom(SGNodes, "node to node"),
		allFrom(SGControlPlane, "control plane to nodes"),
	}, ssh()...)

	out := []SecurityGroup{lb, cp, nodes}
	if bastion {
		b := SecurityGroup{Key: SGBastion, Description: "bastion of " + name}
		b.Ingress = tcpFromCIDRs(PortSSH, c.Spec.SSHAccess, "ssh from sshAccess")
		out = append(out, b)
	}
	for i := range out {
		sg := &out[i]
		sg.Name = sg.Key + "." + name
		sg.Tags = withTags(tags, TagName, sg.Name, TagResource, sg.Resource())
	}
	return out
}
