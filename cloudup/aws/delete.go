package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// deleter deletes resources one by one, retrying those AWS refuses while
// something still depends on them, and keeps going past failures so it can
// report everything it could not delete.
type deleter struct {
	p        *Provider
	deadline time.Time
	deleted  []string
	failed   []error
}

func (p *Provider) newDeleter() *deleter {
	return &deleter{p: p, deadline: time.Now().Add(p.opts.DeleteTimeout)}
}

// retryableDelete says AWS refused because of something that goes away on
// its own: a dependency being deleted, an address still in use, a group
// still scaling in, throttling.
func retryableDelete(err error) bool {
	return hasCode(err, "DependencyViolation", "InvalidIPAddress.InUse", "ResourceInUse", "DeleteConflict",
		"ScalingActivityInProgress", "IncorrectState", "InvalidNetworkInterface.InUse") || isTransient(err)
}

func isTransient(err error) bool { return cloud.IsTransient(wrap(err, "delete")) }

// do runs fn until it succeeds, the resource is gone, it fails for a reason
// that will not go away, or the delete deadline passes.
func (d *deleter) do(ctx context.Context, what string, fn func() error) bool {
	backoff := d.p.opts.DeleteBackoff
	for {
		err := fn()
		if err == nil || isNotFound(err) {
			d.deleted = append(d.deleted, what)
			return true
		}
		if !retryableDelete(err) || time.Now().After(d.deadline) {
			d.fail(what, err)
			return false
		}
		if serr := sleep(ctx, backoff); serr != nil {
			d.fail(what, fmt.Errorf("%w (last error: %v)", serr, err))
			return false
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (d *deleter) fail(what string, err error) {
	d.failed = append(d.failed, fmt.Errorf("%s: %w", what, err))
}

func (d *deleter) err() error {
	if len(d.failed) == 0 {
		return nil
	}
	return fmt.Errorf("could not delete %d resource(s) of cluster %s: %w", len(d.failed), d.p.name(), errors.Join(d.failed...))
}

// DeleteNetwork deletes what the cluster owns beyond its groups and load
// balancer (FindExtras lists it), found by the cluster tag or the names
// hull gives, whether or not the VPC is still there, in dependency order:
// the API record, stray machines,
// NAT gateways, elastic IPs, route tables, the internet gateway, security
// groups (their cross references first), subnets, the VPC (unless
// adopted), the API target group, and last the IAM roles and instance
// profiles of every role and the imported key pairs (cloudup deletes the
// network last, so nothing uses them any more). Dependency violations are retried with backoff until
// Options.DeleteTimeout; the error lists everything left behind.
func (p *Provider) DeleteNetwork(ctx context.Context, cluster string) error {
	if err := p.checkCluster(cluster); err != nil {
		return err
	}
	p.netMu.Lock()
	defer p.netMu.Unlock()
	n, err := p.describeNetwork(ctx)
	if err != nil {
		return err
	}
	d := p.newDeleter()
	if p.cluster.Spec.DNSZone != "" {
		if err := p.DeleteDNSRecord(ctx, cluster, p.model.LoadBalancer.DNSName); err != nil {
			d.fail("API DNS record", err)
		}
	}
	p.terminateStrays(ctx, d)
	for _, k := range sortedKeys(n.nats) {
		id := n.nats[k].NatGatewayId
		d.do(ctx, "NAT gateway "+aws.ToString(id), func() error {
			_, err := p.ec2.DeleteNatGateway(ctx, &ec2.DeleteNatGatewayInput{NatGatewayId: id})
			return err
		})
	}
	for _, k := range sortedKeys(n.eips) {
		id := n.eips[k].AllocationId
		d.do(ctx, "elastic IP "+aws.ToString(id), func() error {
			_, err := p.ec2.ReleaseAddress(ctx, &ec2.ReleaseAddressInput{AllocationId: id})
			return err
		})
	}
	for _, k := range sortedKeys(n.rtbs) {
		rt := n.rtbs[k]
		d.do(ctx, "route table "+aws.ToString(rt.RouteTableId), func() error {
			for _, a := range rt.Associations {
				if aws.ToBool(a.Main) {
					continue
				}
				if _, err := p.ec2.DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: a.RouteTableAssociationId}); err != nil && !isNotFound(err) {
					return err
				}
			}
			_, err := p.ec2.DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: rt.RouteTableId})
			return err
		})
	}
	if g := n.igw; g != nil && ec2TagMap(g.Tags)[awsmodel.TagCluster] == p.name() {
		d.do(ctx, "internet gateway "+aws.ToString(g.InternetGatewayId), func() error {
			for _, a := range g.Attachments {
				if _, err := p.ec2.DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: g.InternetGatewayId,
					VpcId: a.VpcId}); err != nil && !isNotFound(err) {
					return err
				}
			}
			_, err := p.ec2.DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: g.InternetGatewayId})
			return err
		})
	}
	p.deleteSecurityGroups(ctx, d, n)
	for _, name := range sortedKeys(n.subnets) {
		s := n.subnets[name]
		if ec2TagMap(s.Tags)[awsmodel.TagCluster] != p.name() {
			continue // adopted
		}
		d.do(ctx, "subnet "+name+" ("+aws.ToString(s.SubnetId)+")", func() error {
			_, err := p.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: s.SubnetId})
			return err
		})
	}
	if n.vpc != nil && p.model.VPC.ID == "" {
		d.do(ctx, "vpc "+aws.ToString(n.vpc.VpcId), func() error {
			_, err := p.ec2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: n.vpc.VpcId})
			return err
		})
	}
	p.deleteTargetGroup(ctx, d)
	p.deleteRoles(ctx, d)
	p.deleteKeyPairs(ctx, d)
	p.mu.Lock()
	p.sgIDs = nil
	p.mu.Unlock()
	return d.err()
}

// terminateStrays terminates cluster machines no group owns any more
// (detached ones, or ones whose group was deleted by hand): cloudup
// deletes the groups before the network.
func (p *Provider) terminateStrays(ctx context.Context, d *deleter) {
	ids, err := p.clusterInstances(ctx)
	if err != nil {
		d.fail("instances", err)
		return
	}
	if len(ids) == 0 {
		return
	}
	d.do(ctx, fmt.Sprintf("instances %v", ids), func() error {
		_, err := p.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		return err
	})
}

// deleteSecurityGroups revokes the rules that reference other groups (the
// control plane and nodes reference each other) and then deletes the
// groups, retrying while terminating machines still use them.
func (p *Provider) deleteSecurityGroups(ctx context.Context, d *deleter, n *network) {
	ids := sgIDs(n)
	for _, k := range sortedKeys(n.sgs) {
		g := n.sgs[k]
		var refs []ec2types.IpPermission
		for _, perm := range g.IpPermissions {
			if len(perm.UserIdGroupPairs) > 0 {
				refs = append(refs, ec2types.IpPermission{IpProtocol: perm.IpProtocol, FromPort: perm.FromPort, ToPort: perm.ToPort,
					UserIdGroupPairs: perm.UserIdGroupPairs})
			}
		}
		if len(refs) == 0 {
			continue
		}
		if _, err := p.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: refs}); err != nil && !isNotFound(err) {
			d.fail("rules of security group "+aws.ToString(g.GroupName), err)
		}
	}
	for _, k := range sortedKeys(n.sgs) {
		id := ids[k]
		d.do(ctx, "security group "+aws.ToString(n.sgs[k].GroupName)+" ("+id+")", func() error {
			_, err := p.ec2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(id)})
			return err
		})
	}
}

// deleteTargetGroup removes the API target group if a deleted load
// balancer left it behind.
func (p *Provider) deleteTargetGroup(ctx context.Context, d *deleter) {
	tg, err := p.targetGroup(ctx)
	if err != nil {
		d.fail("target group "+p.model.LoadBalancer.Name, err)
		return
	}
	if tg == nil {
		return
	}
	d.do(ctx, "target group "+p.model.LoadBalancer.Name, func() error {
		_, err := p.elb.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: tg.TargetGroupArn})
		return err
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
