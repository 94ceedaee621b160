package aws

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

func fqdn(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") + "." }

// apiRecord finds the API name's A record in the hosted zone; nil if none.
func (p *Provider) apiRecord(ctx context.Context) (*r53types.ResourceRecordSet, error) {
	name := fqdn(p.model.LoadBalancer.DNSName)
	out, err := p.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(p.opts.HostedZoneID),
		StartRecordName: aws.String(name), StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1)})
	if err != nil {
		return nil, wrap(err, "list record %s in hosted zone %s", name, p.opts.HostedZoneID)
	}
	for i, r := range out.ResourceRecordSets {
		if fqdn(aws.ToString(r.Name)) == name && r.Type == r53types.RRTypeA {
			return &out.ResourceRecordSets[i], nil
		}
	}
	return nil, nil
}

func pointsAt(r *r53types.ResourceRecordSet, lb *elbtypes.LoadBalancer) bool {
	return r != nil && r.AliasTarget != nil && fqdn(aws.ToString(r.AliasTarget.DNSName)) == fqdn(aws.ToString(lb.DNSName))
}

// ensureDNS points the API name at the load balancer with an alias record,
// when the provider has a hosted zone.
func (p *Provider) ensureDNS(ctx context.Context, lb *elbtypes.LoadBalancer) error {
	if p.opts.HostedZoneID == "" || p.model.LoadBalancer.DNSName == "" {
		return nil
	}
	rec, err := p.apiRecord(ctx)
	if err != nil || pointsAt(rec, lb) {
		return err
	}
	_, err = p.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(p.opts.HostedZoneID),
		ChangeBatch: &r53types.ChangeBatch{Comment: aws.String("hull: API of " + p.name()), Changes: []r53types.Change{{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(fqdn(p.model.LoadBalancer.DNSName)), Type: r53types.RRTypeA,
				AliasTarget: &r53types.AliasTarget{DNSName: lb.DNSName, HostedZoneId: lb.CanonicalHostedZoneId, EvaluateTargetHealth: false}},
		}}}})
	return wrap(err, "point %s at load balancer %s", p.model.LoadBalancer.DNSName, p.model.LoadBalancer.Name)
}

// deleteDNS removes the API record if it still points at the load balancer.
func (p *Provider) deleteDNS(ctx context.Context, lb *elbtypes.LoadBalancer) error {
	if p.opts.HostedZoneID == "" {
		return nil
	}
	rec, err := p.apiRecord(ctx)
	if err != nil || !pointsAt(rec, lb) {
		return err
	}
	_, err = p.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(p.opts.HostedZoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: rec}}}})
	return wrap(err, "delete record %s", p.model.LoadBalancer.DNSName)
}
