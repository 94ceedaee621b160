package aws

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

func fqdn(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") + "." }

// inZone reports whether name lies in the zone (both fully qualified).
func inZone(name, zone string) bool { return name == zone || strings.HasSuffix(name, "."+zone) }

// hostedZone resolves spec.dnsZone, an id or a name, to the zone id once.
// A name must match exactly one zone of the account; the API name must
// lie inside the zone.
func (p *Provider) hostedZone(ctx context.Context) (string, error) {
	spec := p.cluster.Spec.DNSZone
	if spec == "" {
		return "", fmt.Errorf("cluster %s has no spec.dnsZone", p.name())
	}
	p.mu.Lock()
	id := p.zoneID
	p.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var name string
	if awsmodel.IsHostedZoneID(spec) {
		id = strings.TrimPrefix(spec, "/hostedzone/")
		out, err := p.r53.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(id)})
		if isNotFound(err) {
			return "", fmt.Errorf("spec.dnsZone: there is no Route 53 hosted zone %s: %w", spec, err)
		}
		if err != nil {
			return "", wrap(err, "get hosted zone %s (spec.dnsZone)", spec)
		}
		name = fqdn(aws.ToString(out.HostedZone.Name))
	} else {
		name = fqdn(spec)
		out, err := p.r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(10)})
		if err != nil {
			return "", wrap(err, "find hosted zone %s (spec.dnsZone)", spec)
		}
		var ids []string
		for _, z := range out.HostedZones {
			if fqdn(aws.ToString(z.Name)) == name {
				ids = append(ids, strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/"))
			}
		}
		switch len(ids) {
		case 0:
			return "", fmt.Errorf("spec.dnsZone: the account has no Route 53 hosted zone named %s: %w", name, cloud.ErrNotFound)
		case 1:
			id = ids[0]
		default:
			return "", fmt.Errorf("spec.dnsZone: %d hosted zones are named %s (%s); set spec.dnsZone to the id of the one to use",
				len(ids), name, strings.Join(ids, ", "))
		}
	}
	if api := fqdn(p.cluster.Spec.API.PublicName); !inZone(api, name) {
		return "", fmt.Errorf("spec.api.publicName: %s is not inside hosted zone %s (%s), which spec.dnsZone names", api, name, id)
	}
	p.mu.Lock()
	p.zoneID = id
	p.mu.Unlock()
	return id, nil
}

// record finds the A record of name in the zone; nil if none.
func (p *Provider) record(ctx context.Context, zone, name string) (*r53types.ResourceRecordSet, error) {
	name = fqdn(name)
	out, err := p.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zone),
		StartRecordName: aws.String(name), StartRecordType: r53types.RRTypeA, MaxItems: aws.Int32(1)})
	if err != nil {
		return nil, wrap(err, "list record %s in hosted zone %s", name, zone)
	}
	for i, r := range out.ResourceRecordSets {
		if fqdn(aws.ToString(r.Name)) == name && r.Type == r53types.RRTypeA {
			return &out.ResourceRecordSets[i], nil
		}
	}
	return nil, nil
}

// aliasDNS is where an alias record points, without the dualstack. prefix
// Route 53 may show.
func aliasDNS(r *r53types.ResourceRecordSet) string {
	if r == nil || r.AliasTarget == nil {
		return ""
	}
	return strings.TrimPrefix(fqdn(aws.ToString(r.AliasTarget.DNSName)), "dualstack.")
}

// ownLoadBalancerDNS matches the DNS names AWS gives the cluster's API
// load balancer, this one or an earlier one of the same name. AWS names a
// Network Load Balancer <name>-<hex>.elb.<region>.amazonaws.com and an
// Application (or Classic) one <name>-<id>.<region>.elb.amazonaws.com
// (ELB user guides, "DNS name"); both are accepted, since moto gives every
// type the latter. The name cannot end in a hex run of another cluster's
// name, whose load balancer name differs.
func (p *Provider) ownLoadBalancerDNS() *regexp.Regexp {
	return regexp.MustCompile(`^(internal-)?` + regexp.QuoteMeta(p.model.LoadBalancer.Name) +
		`-[0-9a-f]+\.(elb\.[a-z0-9-]+|[a-z0-9-]+\.elb)\.amazonaws\.com(\.cn)?\.$`)
}

func (p *Provider) checkRecord(cluster, name string) error {
	if err := p.checkCluster(cluster); err != nil {
		return err
	}
	if fqdn(name) != fqdn(p.model.LoadBalancer.DNSName) {
		return fmt.Errorf("aws provider manages only the API record %s, not %s", p.model.LoadBalancer.DNSName, name)
	}
	return nil
}

// FindDNSRecord reports what the API name points at in spec.dnsZone: the
// API load balancer, or "elsewhere: ..." (another target, or an earlier
// load balancer of the same name).
func (p *Provider) FindDNSRecord(ctx context.Context, cluster, name string) (*cloud.DNSRecord, error) {
	if err := p.checkRecord(cluster, name); err != nil {
		return nil, err
	}
	zone, err := p.hostedZone(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := p.record(ctx, zone, name)
	if err != nil || rec == nil {
		return nil, err
	}
	out := &cloud.DNSRecord{Cluster: cluster, Name: name}
	lb, err := p.loadBalancer(ctx)
	if err != nil {
		return nil, err
	}
	target := aliasDNS(rec)
	switch {
	case lb != nil && target == fqdn(aws.ToString(lb.DNSName)):
		out.LoadBalancer = apiLB
	case target != "":
		out.LoadBalancer = "elsewhere: " + target
	default:
		var vals []string
		for _, v := range rec.ResourceRecords {
			vals = append(vals, aws.ToString(v.Value))
		}
		out.LoadBalancer = "elsewhere: " + strings.Join(vals, ",")
	}
	return out, nil
}

// EnsureDNSRecord points the API name at the API load balancer with an
// alias record (UPSERT: it replaces whatever the name held).
func (p *Provider) EnsureDNSRecord(ctx context.Context, r *cloud.DNSRecord) error {
	if err := p.checkRecord(r.Cluster, r.Name); err != nil {
		return err
	}
	if r.LoadBalancer != apiLB {
		return fmt.Errorf("aws provider points %s only at the %q load balancer, not %q", r.Name, apiLB, r.LoadBalancer)
	}
	zone, err := p.hostedZone(ctx)
	if err != nil {
		return err
	}
	lb, err := p.loadBalancer(ctx)
	if err != nil {
		return err
	}
	if lb == nil {
		return wrap(errMissing, "load balancer %s for record %s", p.model.LoadBalancer.Name, r.Name)
	}
	_, err = p.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zone),
		ChangeBatch: &r53types.ChangeBatch{Comment: aws.String("hull: API of " + p.name()), Changes: []r53types.Change{{
			Action: r53types.ChangeActionUpsert,
			ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(fqdn(r.Name)), Type: r53types.RRTypeA,
				AliasTarget: &r53types.AliasTarget{DNSName: lb.DNSName, HostedZoneId: lb.CanonicalHostedZoneId, EvaluateTargetHealth: false}},
		}}}})
	return wrap(err, "point %s at load balancer %s", r.Name, p.model.LoadBalancer.Name)
}

// DeleteDNSRecord removes the API record if it points at the cluster's
// load balancer, this one or an earlier one; a record the user pointed
// elsewhere is left alone, and one whose load balancer of the cluster's
// name another identity owns is refused. (A same-named load balancer in
// another region cannot be told apart without asking that region: the
// record is the zone's, keyed by name, as before identities.)
func (p *Provider) DeleteDNSRecord(ctx context.Context, cluster, name string) error {
	if err := p.checkRecord(cluster, name); err != nil {
		return err
	}
	zone, err := p.hostedZone(ctx)
	if err != nil {
		return err
	}
	rec, err := p.record(ctx, zone, name)
	if err != nil || rec == nil || !p.ownLoadBalancerDNS().MatchString(aliasDNS(rec)) {
		return err
	}
	if _, err := p.loadBalancer(ctx); err != nil {
		return fmt.Errorf("record %s: %w", name, err)
	}
	_, err = p.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zone),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: rec}}}})
	if isNotFound(err) || hasCode(err, "InvalidChangeBatch") && strings.Contains(err.Error(), "not found") {
		return nil
	}
	return wrap(err, "delete record %s", name)
}

// LoadBalancerHost is the DNS name AWS gave the API load balancer; "" when
// it does not exist.
func (p *Provider) LoadBalancerHost(ctx context.Context, cluster, name string) (string, error) {
	if err := p.checkLB(cluster, name); err != nil {
		return "", err
	}
	lb, err := p.loadBalancer(ctx)
	if err != nil || lb == nil {
		return "", err
	}
	return aws.ToString(lb.DNSName), nil
}

// apiHost is how machines and clients reach the API: spec.api.publicName
// with a DNS zone, else the load balancer's own name.
func (p *Provider) apiHost(lbDNS string) string {
	if p.cluster.Spec.DNSZone != "" {
		return p.cluster.Spec.API.PublicName
	}
	return lbDNS
}
