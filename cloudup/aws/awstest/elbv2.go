package awstest

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

type loadBalancer struct {
	name, scheme, typ, vpc, state, dns string
	subnets, securityGroups            []string
	created                            time.Time
}

type targetGroup struct {
	name, protocol, vpc, targetType string
	port                            int
	hcProtocol, hcPath, hcPort      string
	targets                         map[string]int // instance id -> port
}

type listener struct {
	lb, protocol, targetGroup string
	port                      int
}

type elbState struct {
	lbs       map[string]*loadBalancer // by arn
	tgs       map[string]*targetGroup
	listeners map[string]*listener
	tags      map[string]map[string]string // arn -> tags
}

func (e *elbState) init() {
	e.lbs = map[string]*loadBalancer{}
	e.tgs = map[string]*targetGroup{}
	e.listeners = map[string]*listener{}
	e.tags = map[string]map[string]string{}
}

func (e *elbState) leftovers() []string {
	var out []string
	for _, a := range sortedKeys(e.lbs) {
		out = append(out, "load-balancer "+e.lbs[a].name)
	}
	for _, a := range sortedKeys(e.tgs) {
		out = append(out, "target-group "+e.tgs[a].name)
	}
	for _, a := range sortedKeys(e.listeners) {
		out = append(out, "listener "+a)
	}
	return out
}

func (e *elbState) step() {
	for _, lb := range e.lbs {
		if lb.state == "provisioning" {
			lb.state = "active"
		}
	}
}

func (e *elbState) usesSubnet(id string) bool {
	for _, lb := range e.lbs {
		if slices.Contains(lb.subnets, id) {
			return true
		}
	}
	return false
}

func (e *elbState) usesSecurityGroup(id string) bool {
	for _, lb := range e.lbs {
		if slices.Contains(lb.securityGroups, id) {
			return true
		}
	}
	return false
}

func (e *elbState) hasTargetGroup(arn string) bool { return e.tgs[arn] != nil }

func (e *elbState) register(arn, id string) {
	if tg := e.tgs[arn]; tg != nil {
		tg.targets[id] = tg.port
	}
}

func (e *elbState) deregister(arn, id string) {
	if tg := e.tgs[arn]; tg != nil {
		delete(tg.targets, id)
	}
}

func (e *elbState) deregisterEverywhere(id string) {
	for _, tg := range e.tgs {
		delete(tg.targets, id)
	}
}

// Targets lists the instances registered with the target group name.
func (s *Server) Targets(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tg := range s.elb.tgs {
		if tg.name == name {
			return sortedKeys(tg.targets)
		}
	}
	return nil
}

func (s *Server) elbHandlers() map[string]handler {
	return map[string]handler{
		"CreateLoadBalancer": s.createLB, "DescribeLoadBalancers": s.describeLBs, "DeleteLoadBalancer": s.deleteLB,
		"CreateTargetGroup": s.createTG, "DescribeTargetGroups": s.describeTGs, "ModifyTargetGroup": s.modifyTG,
		"DeleteTargetGroup": s.deleteTG, "CreateListener": s.createListener, "DescribeListeners": s.describeListeners,
		"ModifyListener": s.modifyListener, "DeleteListener": s.deleteListener, "AddTags": s.addELBTags,
		"DescribeTags": s.describeELBTags, "RegisterTargets": s.registerTargets, "DeregisterTargets": s.deregisterTargets,
		"DescribeTargetHealth": s.describeTargetHealth, "SetSecurityGroups": s.setLBSecurityGroups,
	}
}

func (s *Server) elbArn(kind, name string) string {
	s.seq++
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:%s/%s/%016x", Region, Account, kind, name, s.seq)
}

func (s *Server) elbTags(arn string, p params) {
	for _, t := range p.structs("Tags") {
		if s.elb.tags[arn] == nil {
			s.elb.tags[arn] = map[string]string{}
		}
		s.elb.tags[arn][t.str("Key")] = t.str("Value")
	}
}

func (s *Server) createLB(p params) ([]x, *apiError) {
	name := p.str("Name")
	for _, lb := range s.elb.lbs {
		if lb.name == name {
			return nil, newErr(http.StatusBadRequest, "DuplicateLoadBalancerName", "A load balancer with the same name '%s' exists", name)
		}
	}
	lb := &loadBalancer{name: name, scheme: p.str("Scheme"), typ: p.str("Type"), state: "provisioning", created: s.now(),
		subnets: p.list("Subnets"), securityGroups: p.list("SecurityGroups")}
	if lb.scheme == "" {
		lb.scheme = "internet-facing"
	}
	if lb.typ == "" {
		lb.typ = "application"
	}
	zones := map[string]bool{}
	for _, sid := range lb.subnets {
		sn := s.ec2.subnets[sid]
		if sn == nil {
			return nil, newErr(http.StatusBadRequest, "SubnetNotFound", "The subnet ID '%s' is not valid", sid)
		}
		if zones[sn.zone] {
			return nil, errValidation("A load balancer cannot be attached to multiple subnets in the same Availability Zone")
		}
		zones[sn.zone] = true
		lb.vpc = sn.vpc
	}
	if len(lb.subnets) == 0 {
		return nil, errValidation("At least one subnet must be specified")
	}
	for _, g := range lb.securityGroups {
		if s.ec2.sgs[g] == nil {
			return nil, newErr(http.StatusBadRequest, "InvalidSecurityGroup", "Security group '%s' does not exist", g)
		}
	}
	arn := s.elbArn("loadbalancer/net", name)
	lb.dns = fmt.Sprintf("%s-%08x.elb.%s.amazonaws.com", name, s.seq, Region)
	if lb.scheme == "internal" {
		lb.dns = "internal-" + lb.dns
	}
	s.elbTags(arn, p)
	s.elb.lbs[arn] = lb
	return []x{list("LoadBalancers", "member", []x{s.renderLB(arn, lb)})}, nil
}

func (s *Server) renderLB(arn string, lb *loadBalancer) x {
	var zones, sgs []x
	for _, sid := range lb.subnets {
		zone := ""
		if sn := s.ec2.subnets[sid]; sn != nil {
			zone = sn.zone
		}
		zones = append(zones, el("member", txt("SubnetId", sid), txt("ZoneName", zone)))
	}
	for _, g := range lb.securityGroups {
		sgs = append(sgs, txt("member", g))
	}
	return el("member", txt("LoadBalancerArn", arn), txt("LoadBalancerName", lb.name), txt("DNSName", lb.dns),
		txt("CanonicalHostedZoneId", "Z26RNL4JYFTOTI"), txt("CreatedTime", isoTime(lb.created)), txt("Scheme", lb.scheme),
		txt("VpcId", lb.vpc), el("State", txt("Code", lb.state)), txt("Type", lb.typ), txt("IpAddressType", "ipv4"),
		list("AvailabilityZones", "member", zones), list("SecurityGroups", "member", sgs))
}

// elbPage pages ELBv2 results with Marker/PageSize (default and max 400).
func (s *Server) elbPage(p params, name string, items []x) ([]x, *apiError) {
	size, aerr := p.int("PageSize", 0)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next, aerr := s.page(len(items), p.str("Marker"), 400, 400, size)
	if aerr != nil {
		return nil, aerr
	}
	return []x{list(name, "member", items[from:to]), opt("NextMarker", next)}, nil
}

func (s *Server) describeLBs(p params) ([]x, *apiError) {
	names, arns := p.list("Names"), p.list("LoadBalancerArns")
	var items []x
	found := map[string]bool{}
	for _, arn := range sortedKeys(s.elb.lbs) {
		lb := s.elb.lbs[arn]
		if (len(names) > 0 && !slices.Contains(names, lb.name)) || !idFilter(arns, arn) {
			continue
		}
		found[lb.name], found[arn] = true, true
		items = append(items, s.renderLB(arn, lb))
	}
	for _, n := range append(names, arns...) {
		if !found[n] {
			return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "Load balancers '[%s]' not found", n)
		}
	}
	return s.elbPage(p, "LoadBalancers", items)
}

func (s *Server) deleteLB(p params) ([]x, *apiError) {
	arn := p.str("LoadBalancerArn")
	if s.elb.lbs[arn] == nil {
		return nil, nil // AWS: deleting a deleted load balancer succeeds
	}
	for la, l := range s.elb.listeners {
		if l.lb == arn {
			delete(s.elb.listeners, la)
		}
	}
	delete(s.elb.lbs, arn)
	delete(s.elb.tags, arn)
	return nil, nil
}

func (s *Server) setLBSecurityGroups(p params) ([]x, *apiError) {
	lb := s.elb.lbs[p.str("LoadBalancerArn")]
	if lb == nil {
		return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "Load balancer '%s' not found", p.str("LoadBalancerArn"))
	}
	lb.securityGroups = p.list("SecurityGroups")
	var sgs []x
	for _, g := range lb.securityGroups {
		sgs = append(sgs, txt("member", g))
	}
	return []x{list("SecurityGroupIds", "member", sgs)}, nil
}

func (s *Server) createTG(p params) ([]x, *apiError) {
	name := p.str("Name")
	for _, tg := range s.elb.tgs {
		if tg.name == name {
			return nil, newErr(http.StatusBadRequest, "DuplicateTargetGroupName", "A target group with the same name '%s' exists", name)
		}
	}
	port, aerr := p.int("Port", 0)
	if aerr != nil {
		return nil, aerr
	}
	tg := &targetGroup{name: name, protocol: p.str("Protocol"), vpc: p.str("VpcId"), targetType: p.str("TargetType"), port: port,
		hcProtocol: p.str("HealthCheckProtocol"), hcPath: p.str("HealthCheckPath"), hcPort: p.str("HealthCheckPort"),
		targets: map[string]int{}}
	if s.ec2.vpcs[tg.vpc] == nil {
		return nil, errValidation("The VPC ID '%s' is not found", tg.vpc)
	}
	if tg.targetType == "" {
		tg.targetType = "instance"
	}
	if tg.hcProtocol == "" {
		tg.hcProtocol = tg.protocol
	}
	if tg.hcPort == "" {
		tg.hcPort = "traffic-port"
	}
	arn := s.elbArn("targetgroup", name)
	s.elbTags(arn, p)
	s.elb.tgs[arn] = tg
	return []x{list("TargetGroups", "member", []x{s.renderTG(arn, tg)})}, nil
}

func (s *Server) renderTG(arn string, tg *targetGroup) x {
	var lbs []x
	for _, l := range s.elb.listeners {
		if l.targetGroup == arn {
			lbs = append(lbs, txt("member", l.lb))
		}
	}
	return el("member", txt("TargetGroupArn", arn), txt("TargetGroupName", tg.name), txt("Protocol", tg.protocol),
		num("Port", tg.port), txt("VpcId", tg.vpc), txt("TargetType", tg.targetType), boolean("HealthCheckEnabled", true),
		txt("HealthCheckProtocol", tg.hcProtocol), opt("HealthCheckPath", tg.hcPath), txt("HealthCheckPort", tg.hcPort),
		num("HealthCheckIntervalSeconds", 30), num("HealthCheckTimeoutSeconds", 10), num("HealthyThresholdCount", 5),
		num("UnhealthyThresholdCount", 2), txt("IpAddressType", "ipv4"), list("LoadBalancerArns", "member", lbs))
}

func (s *Server) describeTGs(p params) ([]x, *apiError) {
	names, arns, lbArn := p.list("Names"), p.list("TargetGroupArns"), p.str("LoadBalancerArn")
	var items []x
	found := map[string]bool{}
	for _, arn := range sortedKeys(s.elb.tgs) {
		tg := s.elb.tgs[arn]
		if (len(names) > 0 && !slices.Contains(names, tg.name)) || !idFilter(arns, arn) {
			continue
		}
		if lbArn != "" && !s.listenerUses(lbArn, arn) {
			continue
		}
		found[tg.name], found[arn] = true, true
		items = append(items, s.renderTG(arn, tg))
	}
	for _, n := range append(names, arns...) {
		if !found[n] {
			return nil, newErr(http.StatusBadRequest, "TargetGroupNotFound", "One or more target groups not found")
		}
	}
	return s.elbPage(p, "TargetGroups", items)
}

func (s *Server) listenerUses(lbArn, tgArn string) bool {
	for _, l := range s.elb.listeners {
		if l.lb == lbArn && l.targetGroup == tgArn {
			return true
		}
	}
	return false
}

func (s *Server) modifyTG(p params) ([]x, *apiError) {
	arn := p.str("TargetGroupArn")
	tg := s.elb.tgs[arn]
	if tg == nil {
		return nil, newErr(http.StatusBadRequest, "TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	if v := p.str("HealthCheckProtocol"); v != "" {
		tg.hcProtocol = v
	}
	if p.has("HealthCheckPath") {
		tg.hcPath = p.str("HealthCheckPath")
	}
	if v := p.str("HealthCheckPort"); v != "" {
		tg.hcPort = v
	}
	return []x{list("TargetGroups", "member", []x{s.renderTG(arn, tg)})}, nil
}

func (s *Server) deleteTG(p params) ([]x, *apiError) {
	arn := p.str("TargetGroupArn")
	for _, l := range s.elb.listeners {
		if l.targetGroup == arn {
			return nil, newErr(http.StatusBadRequest, "ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
		}
	}
	for _, g := range s.asg.groups {
		g.targetGroups = slices.DeleteFunc(g.targetGroups, func(a string) bool { return a == arn })
	}
	delete(s.elb.tgs, arn)
	delete(s.elb.tags, arn)
	return nil, nil
}

func (s *Server) listenerParams(p params, l *listener) *apiError {
	port, aerr := p.int("Port", l.port)
	if aerr != nil {
		return aerr
	}
	l.port = port
	if v := p.str("Protocol"); v != "" {
		l.protocol = v
	}
	if acts := p.structs("DefaultActions"); len(acts) > 0 {
		if acts[0].str("Type") != "forward" || s.elb.tgs[acts[0].str("TargetGroupArn")] == nil {
			return newErr(http.StatusBadRequest, "TargetGroupNotFound", "default action must forward to an existing target group")
		}
		l.targetGroup = acts[0].str("TargetGroupArn")
	}
	return nil
}

func (s *Server) createListener(p params) ([]x, *apiError) {
	lbArn := p.str("LoadBalancerArn")
	if s.elb.lbs[lbArn] == nil {
		return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
	}
	l := &listener{lb: lbArn}
	if aerr := s.listenerParams(p, l); aerr != nil {
		return nil, aerr
	}
	for _, o := range s.elb.listeners {
		if o.lb == lbArn && o.port == l.port {
			return nil, newErr(http.StatusBadRequest, "DuplicateListener", "A listener already exists on this port for this load balancer")
		}
	}
	arn := s.elbArn("listener/net", s.elb.lbs[lbArn].name)
	s.elbTags(arn, p)
	s.elb.listeners[arn] = l
	return []x{list("Listeners", "member", []x{renderListener(arn, l)})}, nil
}

func renderListener(arn string, l *listener) x {
	return el("member", txt("ListenerArn", arn), txt("LoadBalancerArn", l.lb), num("Port", l.port), txt("Protocol", l.protocol),
		list("DefaultActions", "member", []x{el("member", txt("Type", "forward"), txt("TargetGroupArn", l.targetGroup))}))
}

func (s *Server) describeListeners(p params) ([]x, *apiError) {
	lbArn, arns := p.str("LoadBalancerArn"), p.list("ListenerArns")
	if lbArn != "" && s.elb.lbs[lbArn] == nil {
		return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "Load balancer '%s' not found", lbArn)
	}
	var items []x
	for _, arn := range sortedKeys(s.elb.listeners) {
		l := s.elb.listeners[arn]
		if (lbArn == "" || l.lb == lbArn) && idFilter(arns, arn) {
			items = append(items, renderListener(arn, l))
		}
	}
	return s.elbPage(p, "Listeners", items)
}

func (s *Server) modifyListener(p params) ([]x, *apiError) {
	arn := p.str("ListenerArn")
	l := s.elb.listeners[arn]
	if l == nil {
		return nil, newErr(http.StatusBadRequest, "ListenerNotFound", "Listener '%s' not found", arn)
	}
	if aerr := s.listenerParams(p, l); aerr != nil {
		return nil, aerr
	}
	return []x{list("Listeners", "member", []x{renderListener(arn, l)})}, nil
}

func (s *Server) deleteListener(p params) ([]x, *apiError) {
	arn := p.str("ListenerArn")
	if s.elb.listeners[arn] == nil {
		return nil, newErr(http.StatusBadRequest, "ListenerNotFound", "Listener '%s' not found", arn)
	}
	delete(s.elb.listeners, arn)
	return nil, nil
}

func (s *Server) elbResourceExists(arn string) bool {
	return s.elb.lbs[arn] != nil || s.elb.tgs[arn] != nil || s.elb.listeners[arn] != nil
}

func (s *Server) addELBTags(p params) ([]x, *apiError) {
	for _, arn := range p.list("ResourceArns") {
		if !s.elbResourceExists(arn) {
			return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "resource '%s' not found", arn)
		}
		s.elbTags(arn, p)
	}
	return nil, nil
}

func (s *Server) describeELBTags(p params) ([]x, *apiError) {
	var items []x
	for _, arn := range p.list("ResourceArns") {
		if !s.elbResourceExists(arn) {
			return nil, newErr(http.StatusBadRequest, "LoadBalancerNotFound", "resource '%s' not found", arn)
		}
		items = append(items, el("member", txt("ResourceArn", arn), queryTags(s.elb.tags[arn])))
	}
	return []x{list("TagDescriptions", "member", items)}, nil
}

func (s *Server) targetsOf(p params) (*targetGroup, []string, *apiError) {
	arn := p.str("TargetGroupArn")
	tg := s.elb.tgs[arn]
	if tg == nil {
		return nil, nil, newErr(http.StatusBadRequest, "TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	var ids []string
	for _, t := range p.structs("Targets") {
		if s.ec2.instances[t.str("Id")] == nil {
			return nil, nil, newErr(http.StatusBadRequest, "InvalidTarget", "The following targets are not valid: %s", t.str("Id"))
		}
		ids = append(ids, t.str("Id"))
	}
	return tg, ids, nil
}

func (s *Server) registerTargets(p params) ([]x, *apiError) {
	tg, ids, aerr := s.targetsOf(p)
	if aerr != nil {
		return nil, aerr
	}
	for _, id := range ids {
		tg.targets[id] = tg.port
	}
	return nil, nil
}

func (s *Server) deregisterTargets(p params) ([]x, *apiError) {
	tg, ids, aerr := s.targetsOf(p)
	if aerr != nil {
		return nil, aerr
	}
	for _, id := range ids {
		delete(tg.targets, id)
	}
	return nil, nil
}

func (s *Server) describeTargetHealth(p params) ([]x, *apiError) {
	tg := s.elb.tgs[p.str("TargetGroupArn")]
	if tg == nil {
		return nil, newErr(http.StatusBadRequest, "TargetGroupNotFound", "Target group '%s' not found", p.str("TargetGroupArn"))
	}
	var items []x
	for _, id := range sortedKeys(tg.targets) {
		state := "healthy"
		if i := s.ec2.instances[id]; i == nil || i.state != "running" {
			state = "draining"
		}
		items = append(items, el("member", el("Target", txt("Id", id), num("Port", tg.targets[id])),
			txt("HealthCheckPort", fmt.Sprint(tg.port)), el("TargetHealth", txt("State", state))))
	}
	return []x{list("TargetHealthDescriptions", "member", items)}, nil
}
