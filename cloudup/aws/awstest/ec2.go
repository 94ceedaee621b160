package awstest

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

// ec2State holds every EC2 resource, keyed by id.
type ec2State struct {
	tags      map[string]map[string]string // resource id -> tags
	vpcs      map[string]*vpc
	subnets   map[string]*subnet
	igws      map[string]*igw
	addresses map[string]*address
	nats      map[string]*natGateway
	rtbs      map[string]*routeTable
	sgs       map[string]*securityGroup
	images    map[string]*image
	lts       map[string]*launchTemplate
	instances map[string]*instance
	keys      map[string]*keyPair
	events    []InstanceEvent
}

func (e *ec2State) init() {
	e.tags = map[string]map[string]string{}
	e.vpcs = map[string]*vpc{}
	e.subnets = map[string]*subnet{}
	e.igws = map[string]*igw{}
	e.addresses = map[string]*address{}
	e.nats = map[string]*natGateway{}
	e.rtbs = map[string]*routeTable{}
	e.sgs = map[string]*securityGroup{}
	e.images = map[string]*image{}
	e.lts = map[string]*launchTemplate{}
	e.instances = map[string]*instance{}
	e.keys = map[string]*keyPair{}
}

func (s *Server) ec2Handlers() map[string]handler {
	return map[string]handler{
		"CreateVpc": s.createVpc, "DescribeVpcs": s.describeVpcs, "DeleteVpc": s.deleteVpc,
		"ModifyVpcAttribute": s.modifyVpcAttribute,
		"CreateSubnet":       s.createSubnet, "DescribeSubnets": s.describeSubnets, "DeleteSubnet": s.deleteSubnet,
		"ModifySubnetAttribute": s.modifySubnetAttribute,
		"CreateInternetGateway": s.createInternetGateway, "DescribeInternetGateways": s.describeInternetGateways,
		"AttachInternetGateway": s.attachInternetGateway, "DetachInternetGateway": s.detachInternetGateway,
		"DeleteInternetGateway": s.deleteInternetGateway,
		"AllocateAddress":       s.allocateAddress, "DescribeAddresses": s.describeAddresses, "ReleaseAddress": s.releaseAddress,
		"CreateNatGateway": s.createNatGateway, "DescribeNatGateways": s.describeNatGateways, "DeleteNatGateway": s.deleteNatGateway,
		"CreateRouteTable": s.createRouteTable, "DescribeRouteTables": s.describeRouteTables, "DeleteRouteTable": s.deleteRouteTable,
		"CreateRoute": s.createRoute, "ReplaceRoute": s.replaceRoute, "DeleteRoute": s.deleteRoute,
		"AssociateRouteTable": s.associateRouteTable, "DisassociateRouteTable": s.disassociateRouteTable,
		"CreateSecurityGroup": s.createSecurityGroup, "DescribeSecurityGroups": s.describeSecurityGroups,
		"DeleteSecurityGroup":           s.deleteSecurityGroup,
		"AuthorizeSecurityGroupIngress": s.authorizeIngress, "RevokeSecurityGroupIngress": s.revokeIngress,
		"DescribeImages": s.describeImages, "RegisterImage": s.registerImage, "DeregisterImage": s.deregisterImage,
		"CreateLaunchTemplate": s.createLaunchTemplate, "CreateLaunchTemplateVersion": s.createLaunchTemplateVersion,
		"DescribeLaunchTemplates": s.describeLaunchTemplates, "DescribeLaunchTemplateVersions": s.describeLaunchTemplateVersions,
		"ModifyLaunchTemplate": s.modifyLaunchTemplate, "DeleteLaunchTemplate": s.deleteLaunchTemplate,
		"DescribeInstances": s.describeInstances, "TerminateInstances": s.terminateInstances,
		"RunInstances": s.runInstances, "CreateImage": s.createImage,
		"CreateTags": s.createTags, "DeleteTags": s.deleteTags, "DescribeTags": s.describeTags,
		"DescribeAvailabilityZones": s.describeAvailabilityZones,
		"ImportKeyPair":             s.importKeyPair, "DescribeKeyPairs": s.describeKeyPairs, "DeleteKeyPair": s.deleteKeyPair,
		"ModifyInstanceAttribute": s.modifyInstanceAttribute, "DescribeInstanceAttribute": s.describeInstanceAttribute,
	}
}

// resourceTypes maps id prefixes to DescribeTags/TagSpecification types.
var resourceTypes = map[string]string{
	"vpc": "vpc", "subnet": "subnet", "igw": "internet-gateway", "eipalloc": "elastic-ip",
	"nat": "natgateway", "rtb": "route-table", "sg": "security-group", "ami": "image",
	"lt": "launch-template", "i": "instance", "key": "key-pair",
}

func resourceType(id string) string {
	prefix, _, _ := strings.Cut(id, "-")
	return resourceTypes[prefix]
}

func (s *Server) ec2Exists(id string) bool {
	e := &s.ec2
	switch resourceType(id) {
	case "vpc":
		return e.vpcs[id] != nil
	case "subnet":
		return e.subnets[id] != nil
	case "internet-gateway":
		return e.igws[id] != nil
	case "elastic-ip":
		return e.addresses[id] != nil
	case "natgateway":
		return e.nats[id] != nil
	case "route-table":
		return e.rtbs[id] != nil
	case "security-group":
		return e.sgs[id] != nil
	case "image":
		return e.images[id] != nil
	case "launch-template":
		return e.lts[id] != nil
	case "instance":
		return e.instances[id] != nil
	case "key-pair":
		return e.keys[id] != nil
	}
	return false
}

// tagSpecs applies TagSpecification entries of resource type typ to id.
func (s *Server) tagSpecs(p params, typ, id string) *apiError {
	for _, ts := range p.structs("TagSpecification") {
		if t := ts.str("ResourceType"); t != typ {
			return errInvalidParameter("TagSpecification resource type %q does not apply to a %s", t, typ)
		}
		for _, t := range ts.structs("Tag") {
			s.setTag(id, t.str("Key"), t.str("Value"))
		}
	}
	return nil
}

func (s *Server) setTag(id, k, v string) {
	if s.ec2.tags[id] == nil {
		s.ec2.tags[id] = map[string]string{}
	}
	s.ec2.tags[id][k] = v
}

func (s *Server) forget(id string) { delete(s.ec2.tags, id) }

func (s *Server) createTags(p params) ([]x, *apiError) {
	ids := p.list("ResourceId")
	for _, id := range ids {
		if !s.ec2Exists(id) {
			return nil, newErr(http.StatusBadRequest, "InvalidID", "The ID '%s' is not valid", id)
		}
	}
	for _, id := range ids {
		for _, t := range p.structs("Tag") {
			if strings.HasPrefix(t.str("Key"), "aws:") {
				return nil, errInvalidParameter("Tag keys starting with 'aws:' are reserved for internal use")
			}
			s.setTag(id, t.str("Key"), t.str("Value"))
		}
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteTags(p params) ([]x, *apiError) {
	for _, id := range p.list("ResourceId") {
		for _, t := range p.structs("Tag") {
			if t.has("Value") && s.ec2.tags[id][t.str("Key")] != t.str("Value") {
				continue
			}
			delete(s.ec2.tags[id], t.str("Key"))
		}
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) describeTags(p params) ([]x, *apiError) {
	fs := parseFilters(p)
	var items []x
	ids := sortedKeys(s.ec2.tags)
	for _, id := range ids {
		tags := s.ec2.tags[id]
		for _, k := range sortedKeys(tags) {
			typ := resourceType(id)
			ok, err := matches(fs, tags, func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return []string{id}, true
				case "resource-type":
					return []string{typ}, true
				case "key":
					return []string{k}, true
				case "value":
					return []string{tags[k]}, true
				}
				return nil, false
			})
			if err != nil {
				return nil, err
			}
			if ok {
				items = append(items, el("item", txt("resourceId", id), txt("resourceType", typ), txt("key", k), txt("value", tags[k])))
			}
		}
	}
	return s.ec2Page(p, "tagSet", items, 5, 1000)
}

// ec2Page returns one page of items under name, with the nextToken.
// EC2 returns everything when no MaxResults is given.
func (s *Server) ec2Page(p params, name string, items []x, min, max int) ([]x, *apiError) {
	size, err := p.int("MaxResults", 0)
	if err != nil {
		return nil, err
	}
	if size != 0 && size < min {
		return nil, errInvalidParameter("MaxResults %d is below the minimum %d", size, min)
	}
	from, to, next, perr := s.page(len(items), p.str("NextToken"), 0, max, size)
	if perr != nil {
		return nil, perr
	}
	return []x{list(name, "item", items[from:to]), opt("nextToken", next)}, nil
}

// describe filters the resources with ids (sorted) through the request's
// ids (idKey) and filters, and renders the matches.
func describe[T any](s *Server, p params, idKey string, all map[string]T, f func(id string, r T) fields, render func(id string, r T) x, notFound string) ([]x, *apiError) {
	fs := parseFilters(p)
	want := p.list(idKey)
	for _, id := range want {
		if _, ok := all[id]; !ok {
			return nil, newErr(http.StatusBadRequest, notFound, "The ID '%s' does not exist", id)
		}
	}
	var items []x
	for _, id := range sortedKeys(all) {
		if !idFilter(want, id) {
			continue
		}
		ok, err := matches(fs, s.ec2.tags[id], f(id, all[id]))
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, render(id, all[id]))
		}
	}
	return items, nil
}

func (s *Server) describeAvailabilityZones(params) ([]x, *apiError) {
	var items []x
	for _, z := range []string{"a", "b", "c", "d", "e", "f"} {
		items = append(items, el("item", txt("zoneName", Region+z), txt("zoneState", "available"), txt("regionName", Region)))
	}
	return []x{list("availabilityZoneInfo", "item", items)}, nil
}

func (e *ec2State) leftovers() []string {
	var out []string
	add := func(kind string, ids []string) {
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, kind+" "+id)
		}
	}
	add("vpc", sortedKeys(e.vpcs))
	add("subnet", sortedKeys(e.subnets))
	add("internet-gateway", sortedKeys(e.igws))
	add("elastic-ip", sortedKeys(e.addresses))
	var nats, sgs, rtbs, insts []string
	for id, n := range e.nats {
		if n.state != "deleted" {
			nats = append(nats, id)
		}
	}
	add("natgateway", nats)
	for id, r := range e.rtbs {
		if !r.main {
			rtbs = append(rtbs, id)
		}
	}
	add("route-table", rtbs)
	for id, g := range e.sgs {
		if g.name != "default" {
			sgs = append(sgs, id)
		}
	}
	add("security-group", sgs)
	add("launch-template", sortedKeys(e.lts))
	for id, i := range e.instances {
		if i.state != "terminated" {
			insts = append(insts, id)
		}
	}
	add("instance", insts)
	add("key-pair", sortedKeys(e.keys))
	return out
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
