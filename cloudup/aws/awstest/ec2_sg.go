package awstest

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
)

type sgRule struct {
	proto    string // tcp, udp, icmp, -1
	from, to int
	cidr     string
	group    string
	desc     string
}

func (r sgRule) same(o sgRule) bool {
	return r.proto == o.proto && r.from == o.from && r.to == o.to && r.cidr == o.cidr && r.group == o.group
}

type securityGroup struct {
	vpc, name, description string
	ingress, egress        []sgRule
}

func (s *Server) createSecurityGroup(p params) ([]x, *apiError) {
	vid, name := p.str("VpcId"), p.str("GroupName")
	if s.ec2.vpcs[vid] == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vid)
	}
	if name == "" || p.str("GroupDescription") == "" {
		return nil, newErr(http.StatusBadRequest, "MissingParameter", "GroupName and GroupDescription are required")
	}
	for _, g := range s.ec2.sgs {
		if g.vpc == vid && g.name == name {
			return nil, newErr(http.StatusBadRequest, "InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vid)
		}
	}
	id := s.nextID("sg")
	if aerr := s.tagSpecs(p, "security-group", id); aerr != nil {
		return nil, aerr
	}
	s.ec2.sgs[id] = &securityGroup{vpc: vid, name: name, description: p.str("GroupDescription"),
		egress: []sgRule{{proto: "-1", cidr: "0.0.0.0/0"}}}
	return []x{txt("groupId", id), txt("securityGroupArn", fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", Region, Account, id)),
		ec2Tags(s.ec2.tags[id])}, nil
}

func renderPermissions(name string, rules []sgRule) x {
	type key struct {
		proto    string
		from, to int
	}
	var order []key
	byKey := map[key][]sgRule{}
	for _, r := range rules {
		k := key{r.proto, r.from, r.to}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	var items []x
	for _, k := range order {
		var ranges, groups []x
		for _, r := range byKey[k] {
			if r.cidr != "" {
				ranges = append(ranges, el("item", txt("cidrIp", r.cidr), opt("description", r.desc)))
			} else {
				groups = append(groups, el("item", txt("groupId", r.group), txt("userId", Account), opt("description", r.desc)))
			}
		}
		item := el("item", txt("ipProtocol", k.proto))
		if k.proto != "-1" {
			item.kids = append(item.kids, num("fromPort", k.from), num("toPort", k.to))
		}
		item.kids = append(item.kids, list("groups", "item", groups), list("ipRanges", "item", ranges),
			list("ipv6Ranges", "item", nil), list("prefixListIds", "item", nil))
		items = append(items, item)
	}
	return list(name, "item", items)
}

func (s *Server) renderSG(id string, g *securityGroup) x {
	return el("item", txt("ownerId", Account), txt("groupId", id), txt("groupName", g.name), txt("groupDescription", g.description),
		txt("vpcId", g.vpc), renderPermissions("ipPermissions", g.ingress), renderPermissions("ipPermissionsEgress", g.egress),
		ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeSecurityGroups(p params) ([]x, *apiError) {
	names := p.list("GroupName")
	items, err := describe(s, p, "GroupId", s.ec2.sgs, func(id string, g *securityGroup) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "group-id":
				return []string{id}, true
			case "group-name":
				return []string{g.name}, true
			case "vpc-id":
				return []string{g.vpc}, true
			case "description":
				return []string{g.description}, true
			}
			return nil, false
		}
	}, func(id string, g *securityGroup) x {
		if len(names) > 0 && !slices.Contains(names, g.name) {
			return x{}
		}
		return s.renderSG(id, g)
	}, "InvalidGroup.NotFound")
	if err != nil {
		return nil, err
	}
	items = slices.DeleteFunc(items, func(i x) bool { return i.name == "" })
	return s.ec2Page(p, "securityGroupInfo", items, 5, 1000)
}

// permissions reads IpPermissions into rules.
func (s *Server) permissions(p params) ([]sgRule, *apiError) {
	var out []sgRule
	for _, perm := range p.structs("IpPermissions") {
		proto := perm.str("IpProtocol")
		switch proto {
		case "tcp", "udp", "icmp", "-1":
		case "6":
			proto = "tcp"
		case "17":
			proto = "udp"
		case "all":
			proto = "-1"
		default:
			return nil, errInvalidParameter("Invalid value '%s' for IP protocol.", proto)
		}
		from, err := perm.int("FromPort", 0)
		if err != nil {
			return nil, err
		}
		to, err := perm.int("ToPort", 0)
		if err != nil {
			return nil, err
		}
		if proto == "-1" {
			from, to = 0, 0
		} else if from > to || to > 65535 {
			return nil, errInvalidParameter("Invalid port range %d-%d", from, to)
		}
		base := sgRule{proto: proto, from: from, to: to}
		for _, r := range perm.structs("IpRanges") {
			c, perr := netip.ParsePrefix(r.str("CidrIp"))
			if perr != nil || c != c.Masked() {
				return nil, errInvalidParameter("CIDR block %s is malformed", r.str("CidrIp"))
			}
			rule := base
			rule.cidr, rule.desc = c.String(), r.str("Description")
			out = append(out, rule)
		}
		for _, g := range perm.structs("Groups") {
			if s.ec2.sgs[g.str("GroupId")] == nil {
				return nil, newErr(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist", g.str("GroupId"))
			}
			rule := base
			rule.group, rule.desc = g.str("GroupId"), g.str("Description")
			out = append(out, rule)
		}
	}
	return out, nil
}

func (s *Server) sgFor(p params) (*securityGroup, *apiError) {
	g := s.ec2.sgs[p.str("GroupId")]
	if g == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidGroup.NotFound", "The security group '%s' does not exist", p.str("GroupId"))
	}
	return g, nil
}

func (s *Server) authorizeIngress(p params) ([]x, *apiError) {
	g, aerr := s.sgFor(p)
	if aerr != nil {
		return nil, aerr
	}
	rules, aerr := s.permissions(p)
	if aerr != nil {
		return nil, aerr
	}
	for _, r := range rules {
		if slices.ContainsFunc(g.ingress, r.same) {
			return nil, newErr(http.StatusBadRequest, "InvalidPermission.Duplicate",
				"the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists", r.cidr+r.group, r.proto, r.from, r.to)
		}
	}
	g.ingress = append(g.ingress, rules...)
	var set []x
	for i := range rules {
		set = append(set, el("item", txt("securityGroupRuleId", "sgr-"+strconv.Itoa(s.seq+i)), txt("groupId", p.str("GroupId")), boolean("isEgress", false)))
	}
	return []x{boolean("return", true), list("securityGroupRuleSet", "item", set)}, nil
}

func (s *Server) revokeIngress(p params) ([]x, *apiError) {
	g, aerr := s.sgFor(p)
	if aerr != nil {
		return nil, aerr
	}
	rules, aerr := s.permissions(p)
	if aerr != nil {
		return nil, aerr
	}
	for _, r := range rules {
		if !slices.ContainsFunc(g.ingress, r.same) {
			return nil, newErr(http.StatusBadRequest, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
		}
	}
	for _, r := range rules {
		g.ingress = slices.DeleteFunc(g.ingress, r.same)
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteSecurityGroup(p params) ([]x, *apiError) {
	id := p.str("GroupId")
	g, aerr := s.sgFor(p)
	if aerr != nil {
		return nil, aerr
	}
	if g.name == "default" {
		return nil, newErr(http.StatusBadRequest, "CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	for oid, o := range s.ec2.sgs {
		if oid != id && (slices.ContainsFunc(o.ingress, func(r sgRule) bool { return r.group == id }) ||
			slices.ContainsFunc(o.egress, func(r sgRule) bool { return r.group == id })) {
			return nil, errDependency("resource %s has a dependent object", id)
		}
	}
	for _, i := range s.ec2.instances {
		if i.state != "terminated" && slices.Contains(i.sgs, id) {
			return nil, errDependency("resource %s has a dependent object", id)
		}
	}
	if s.elb.usesSecurityGroup(id) {
		return nil, errDependency("resource %s has a dependent object", id)
	}
	delete(s.ec2.sgs, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}
