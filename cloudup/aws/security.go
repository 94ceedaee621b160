package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
)

// sgIDs maps security group keys to ids.
func sgIDs(n *network) map[string]string {
	out := map[string]string{}
	for k, g := range n.sgs {
		out[k] = aws.ToString(g.GroupId)
	}
	return out
}

// actualRules flattens a group's ingress into model rules; a source group
// that is not one of the cluster's is named "id:<group id>".
func actualRules(g ec2types.SecurityGroup, ids map[string]string) []awsmodel.Rule {
	keyOf := map[string]string{}
	for k, id := range ids {
		keyOf[id] = k
	}
	var out []awsmodel.Rule
	for _, perm := range g.IpPermissions {
		base := awsmodel.Rule{Protocol: aws.ToString(perm.IpProtocol), FromPort: aws.ToInt32(perm.FromPort), ToPort: aws.ToInt32(perm.ToPort)}
		if base.Protocol == "-1" {
			base.FromPort, base.ToPort = 0, 0
		}
		for _, r := range perm.IpRanges {
			rule := base
			rule.CIDR = aws.ToString(r.CidrIp)
			out = append(out, rule)
		}
		for _, pair := range perm.UserIdGroupPairs {
			rule := base
			id := aws.ToString(pair.GroupId)
			if rule.Source = keyOf[id]; rule.Source == "" {
				rule.Source = "id:" + id
			}
			out = append(out, rule)
		}
	}
	return out
}

// ruleDiff is what to authorize and what to revoke to make have match sg.
func ruleDiff(sg awsmodel.SecurityGroup, have ec2types.SecurityGroup, ids map[string]string) (add, remove []awsmodel.Rule) {
	actual := actualRules(have, ids)
	got := map[string]bool{}
	for _, r := range actual {
		got[r.ID()] = true
	}
	want := map[string]bool{}
	for _, r := range sg.Ingress {
		want[r.ID()] = true
		if !got[r.ID()] {
			add = append(add, r)
		}
	}
	for _, r := range actual {
		if !want[r.ID()] {
			remove = append(remove, r)
		}
	}
	return add, remove
}

// permissions renders rules as EC2 IpPermissions, one per rule.
func permissions(rules []awsmodel.Rule, ids map[string]string) []ec2types.IpPermission {
	var out []ec2types.IpPermission
	for _, r := range rules {
		perm := ec2types.IpPermission{IpProtocol: aws.String(r.Protocol)}
		if r.Protocol != "-1" {
			perm.FromPort, perm.ToPort = aws.Int32(r.FromPort), aws.Int32(r.ToPort)
		}
		desc := optString(r.Description)
		switch {
		case r.CIDR != "":
			perm.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.CIDR), Description: desc}}
		case len(r.Source) > 3 && r.Source[:3] == "id:":
			perm.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(r.Source[3:]), Description: desc}}
		default:
			perm.UserIdGroupPairs = []ec2types.UserIdGroupPair{{GroupId: aws.String(ids[r.Source]), Description: desc}}
		}
		out = append(out, perm)
	}
	return out
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// ensureSecurityGroups creates the missing groups, then makes every
// group's ingress exactly the model's: missing rules authorized, extra ones
// revoked, in one call per group and direction.
func (p *Provider) ensureSecurityGroups(ctx context.Context, n *network) error {
	vpcID := aws.ToString(n.vpc.VpcId)
	for _, sg := range p.model.SecurityGroups {
		if _, ok := n.sgs[sg.Key]; ok {
			continue
		}
		out, err := p.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(sg.Name),
			Description: aws.String(sg.Description), VpcId: aws.String(vpcID),
			TagSpecifications: tagSpec(ec2types.ResourceTypeSecurityGroup, sg.Tags)})
		if err != nil {
			return wrap(err, "create security group %s", sg.Name)
		}
		n.sgs[sg.Key] = ec2types.SecurityGroup{GroupId: out.GroupId, GroupName: aws.String(sg.Name), VpcId: aws.String(vpcID)}
	}
	ids := sgIDs(n)
	for _, sg := range p.model.SecurityGroups {
		id := ids[sg.Key]
		add, remove := ruleDiff(sg, n.sgs[sg.Key], ids)
		if len(remove) > 0 {
			if _, err := p.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{
				GroupId: aws.String(id), IpPermissions: permissions(remove, ids)}); err != nil {
				return wrap(err, "revoke %d rules of security group %s", len(remove), sg.Name)
			}
		}
		if len(add) > 0 {
			if _, err := p.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
				GroupId: aws.String(id), IpPermissions: permissions(add, ids)}); err != nil {
				return wrap(err, "authorize %d rules of security group %s", len(add), sg.Name)
			}
		}
	}
	p.mu.Lock()
	p.sgIDs = ids
	p.mu.Unlock()
	return nil
}

// securityGroupID returns the id of a cluster security group. cloudup's
// launch config tasks depend on the network task, so the group exists by
// now and FindNetwork or EnsureNetwork has recorded its id; a provider
// used on its own (no plan ran first) reads the groups once.
func (p *Provider) securityGroupID(ctx context.Context, key string) (string, error) {
	p.mu.Lock()
	id := p.sgIDs[key]
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	n, err := p.describeNetwork(ctx)
	if err != nil {
		return "", fmt.Errorf("security group %s: %w", key, err)
	}
	if id = sgIDs(n)[key]; id == "" {
		return "", wrap(errMissing, "security group %s of cluster %s (the network must be ensured before launch templates)", key, p.name())
	}
	return id, nil
}
