package aws

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
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

// securityGroup is one group of the model as a resource of the plan.
func (p *Provider) securityGroup(netKey string, sg awsmodel.SecurityGroup) cloud.Resource {
	return cloud.Resource{
		Kind: kindSecurityGroup, Name: sg.Name,
		Fields: map[string]string{"description": sg.Description},
		// AWS cannot change a group's description; a group made with
		// another one is recreated by hand or keeps it.
		Immutable: []string{"description"},
		After:     []string{netKey},
		NeededBy:  []string{neededByLaunchConfig, neededByLoadBalancer},
		Find: p.findInNetwork(func(n *network) map[string]string {
			g, ok := n.sgs[sg.Key]
			if !ok {
				return nil
			}
			return map[string]string{"description": aws.ToString(g.Description)}
		}),
		Apply: p.applyInNetwork(func(ctx context.Context, n *network) error { return p.createSecurityGroup(ctx, n, sg) }),
	}
}

// securityGroupRules is a group's ingress as a resource of the plan: one
// field per rule and their number, so a missing rule shows by name and an
// extra one in the count.
func (p *Provider) securityGroupRules(sg awsmodel.SecurityGroup) cloud.Resource {
	after := []string{kindSecurityGroup + "/" + sg.Name}
	for _, r := range sg.Ingress {
		if src, ok := p.model.SecurityGroup(r.Source); ok && !slices.Contains(after, kindSecurityGroup+"/"+src.Name) {
			after = append(after, kindSecurityGroup+"/"+src.Name)
		}
	}
	return cloud.Resource{
		Kind: kindSecurityGroupRules, Name: sg.Name,
		Fields:   ruleFields(sg.Ingress),
		After:    after,
		NeededBy: []string{neededByLaunchConfig},
		Find: p.findInNetwork(func(n *network) map[string]string {
			g, ok := n.sgs[sg.Key]
			if !ok {
				return nil
			}
			return ruleFields(actualRules(g, sgIDs(n)))
		}),
		Apply: p.applyInNetwork(func(ctx context.Context, n *network) error { return p.ensureIngress(ctx, n, sg) }),
	}
}

// ruleFields are the plan's fields of a group's ingress.
func ruleFields(rules []awsmodel.Rule) map[string]string {
	f := map[string]string{}
	for _, r := range rules {
		f["ingress "+r.ID()] = "allow"
	}
	f["rules"] = strconv.Itoa(len(f))
	return f
}

// createSecurityGroup makes a group of the model that does not exist.
func (p *Provider) createSecurityGroup(ctx context.Context, n *network, sg awsmodel.SecurityGroup) error {
	if _, ok := n.sgs[sg.Key]; ok {
		return nil
	}
	vpcID := aws.ToString(n.vpc.VpcId)
	out, err := p.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(sg.Name),
		Description: aws.String(sg.Description), VpcId: aws.String(vpcID),
		TagSpecifications: tagSpec(ec2types.ResourceTypeSecurityGroup, sg.Tags)})
	if err != nil {
		return wrap(err, "create security group %s", sg.Name)
	}
	n.sgs[sg.Key] = ec2types.SecurityGroup{GroupId: out.GroupId, GroupName: aws.String(sg.Name), VpcId: aws.String(vpcID),
		Description: aws.String(sg.Description), Tags: ec2TagList(sg.Tags)}
	p.mu.Lock()
	p.sgIDs = sgIDs(n)
	p.mu.Unlock()
	return nil
}

// ensureIngress makes a group's ingress exactly the model's: missing rules
// authorized, extra ones revoked, in one call per direction.
func (p *Provider) ensureIngress(ctx context.Context, n *network, sg awsmodel.SecurityGroup) error {
	have, ok := n.sgs[sg.Key]
	if !ok {
		return wrap(errMissing, "security group %s", sg.Name)
	}
	ids := sgIDs(n)
	for _, r := range sg.Ingress {
		if _, known := p.model.SecurityGroup(r.Source); known && ids[r.Source] == "" {
			return wrap(errMissing, "security group %s, a source of %s", r.Source, sg.Name)
		}
	}
	id := aws.ToString(have.GroupId)
	add, remove := ruleDiff(sg, have, ids)
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
	// n is shared by the apply's steps: record the group's rules as made.
	have.IpPermissions = permissions(sg.Ingress, ids)
	n.sgs[sg.Key] = have
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
