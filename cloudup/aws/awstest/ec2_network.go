package awstest

import (
	"fmt"
	"net/http"
	"net/netip"
)

type vpc struct {
	cidr         netip.Prefix
	dnsHostnames bool
	dnsSupport   bool
	mainRTB      string
	defaultSG    string
}

type subnet struct {
	vpc, zone   string
	cidr        netip.Prefix
	mapPublicIP bool
	nextHost    int
}

type igw struct{ vpc string }

type address struct {
	publicIP string
	nat      string // NAT gateway using it
}

type natGateway struct {
	vpc, subnet, allocation string
	state                   string // pending, available, deleting, deleted
	created                 string
	deletingStep            int
	deletedStep             int
}

func (s *Server) createVpc(p params) ([]x, *apiError) {
	cidr, err := netip.ParsePrefix(p.str("CidrBlock"))
	if err != nil || cidr.Bits() < 16 || cidr.Bits() > 28 || cidr != cidr.Masked() {
		return nil, newErr(http.StatusBadRequest, "InvalidVpc.Range", "The CIDR '%s' is invalid.", p.str("CidrBlock"))
	}
	id := s.nextID("vpc")
	v := &vpc{cidr: cidr, dnsSupport: true}
	if aerr := s.tagSpecs(p, "vpc", id); aerr != nil {
		return nil, aerr
	}
	s.ec2.vpcs[id] = v
	// Every VPC comes with a main route table and a default security group.
	v.mainRTB = s.nextID("rtb")
	s.ec2.rtbs[v.mainRTB] = &routeTable{vpc: id, main: true, routes: []route{{dest: cidr.String(), gateway: "local"}}}
	v.defaultSG = s.nextID("sg")
	s.ec2.sgs[v.defaultSG] = &securityGroup{vpc: id, name: "default", description: "default VPC security group",
		ingress: []sgRule{{proto: "-1", group: v.defaultSG}}, egress: []sgRule{{proto: "-1", cidr: "0.0.0.0/0"}}}
	return []x{s.renderVpc(id, v)}, nil
}

func (s *Server) renderVpc(id string, v *vpc) x {
	return el("vpc", txt("vpcId", id), txt("ownerId", Account), txt("state", "available"), txt("cidrBlock", v.cidr.String()),
		txt("dhcpOptionsId", "dopt-00000000000000001"), txt("instanceTenancy", "default"), boolean("isDefault", false),
		list("cidrBlockAssociationSet", "item", []x{el("item", txt("associationId", "vpc-cidr-assoc-"+id[4:]), txt("cidrBlock", v.cidr.String()),
			el("cidrBlockState", txt("state", "associated")))}),
		ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeVpcs(p params) ([]x, *apiError) {
	items, err := describe(s, p, "VpcId", s.ec2.vpcs, func(id string, v *vpc) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "vpc-id":
				return []string{id}, true
			case "cidr", "cidr-block-association.cidr-block":
				return []string{v.cidr.String()}, true
			case "state":
				return []string{"available"}, true
			case "is-default":
				return []string{"false"}, true
			}
			return nil, false
		}
	}, s.renderVpc, "InvalidVpcID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "vpcSet", items, 5, 1000)
}

func (s *Server) modifyVpcAttribute(p params) ([]x, *apiError) {
	v := s.ec2.vpcs[p.str("VpcId")]
	if v == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", p.str("VpcId"))
	}
	if p.has("EnableDnsHostnames.Value") {
		v.dnsHostnames = p.bool("EnableDnsHostnames.Value")
	}
	if p.has("EnableDnsSupport.Value") {
		v.dnsSupport = p.bool("EnableDnsSupport.Value")
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteVpc(p params) ([]x, *apiError) {
	id := p.str("VpcId")
	v := s.ec2.vpcs[id]
	if v == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
	}
	deps := 0
	for _, sn := range s.ec2.subnets {
		deps += count(sn.vpc == id)
	}
	for _, g := range s.ec2.igws {
		deps += count(g.vpc == id)
	}
	for _, r := range s.ec2.rtbs {
		deps += count(r.vpc == id && !r.main)
	}
	for gid, g := range s.ec2.sgs {
		deps += count(g.vpc == id && gid != v.defaultSG)
	}
	for _, n := range s.ec2.nats {
		deps += count(n.vpc == id && n.state != "deleted")
	}
	if deps > 0 {
		return nil, errDependency("The vpc '%s' has dependencies and cannot be deleted.", id)
	}
	delete(s.ec2.rtbs, v.mainRTB)
	delete(s.ec2.sgs, v.defaultSG)
	delete(s.ec2.vpcs, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) createSubnet(p params) ([]x, *apiError) {
	vid := p.str("VpcId")
	v := s.ec2.vpcs[vid]
	if v == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vid)
	}
	cidr, err := netip.ParsePrefix(p.str("CidrBlock"))
	if err != nil || cidr != cidr.Masked() || !v.cidr.Contains(cidr.Addr()) || cidr.Bits() < v.cidr.Bits() || cidr.Bits() > 28 {
		return nil, newErr(http.StatusBadRequest, "InvalidSubnet.Range", "The CIDR '%s' is invalid.", p.str("CidrBlock"))
	}
	for _, sn := range s.ec2.subnets {
		if sn.vpc == vid && sn.cidr.Overlaps(cidr) {
			return nil, newErr(http.StatusBadRequest, "InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", cidr)
		}
	}
	zone := p.str("AvailabilityZone")
	if zone == "" {
		zone = Region + "a"
	}
	id := s.nextID("subnet")
	if aerr := s.tagSpecs(p, "subnet", id); aerr != nil {
		return nil, aerr
	}
	sn := &subnet{vpc: vid, zone: zone, cidr: cidr}
	s.ec2.subnets[id] = sn
	return []x{s.renderSubnet(id, sn)}, nil
}

func (s *Server) renderSubnet(id string, sn *subnet) x {
	return el("subnet", txt("subnetId", id), txt("subnetArn", fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", Region, Account, id)),
		txt("vpcId", sn.vpc), txt("state", "available"), txt("cidrBlock", sn.cidr.String()), txt("availabilityZone", sn.zone),
		num("availableIpAddressCount", (1<<(32-sn.cidr.Bits()))-5-sn.nextHost), boolean("defaultForAz", false),
		boolean("mapPublicIpOnLaunch", sn.mapPublicIP), txt("ownerId", Account), ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeSubnets(p params) ([]x, *apiError) {
	items, err := describe(s, p, "SubnetId", s.ec2.subnets, func(id string, sn *subnet) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "subnet-id":
				return []string{id}, true
			case "vpc-id":
				return []string{sn.vpc}, true
			case "cidr-block", "cidr":
				return []string{sn.cidr.String()}, true
			case "availability-zone":
				return []string{sn.zone}, true
			case "state":
				return []string{"available"}, true
			}
			return nil, false
		}
	}, s.renderSubnet, "InvalidSubnetID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "subnetSet", items, 5, 1000)
}

func (s *Server) modifySubnetAttribute(p params) ([]x, *apiError) {
	sn := s.ec2.subnets[p.str("SubnetId")]
	if sn == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", p.str("SubnetId"))
	}
	if p.has("MapPublicIpOnLaunch.Value") {
		sn.mapPublicIP = p.bool("MapPublicIpOnLaunch.Value")
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteSubnet(p params) ([]x, *apiError) {
	id := p.str("SubnetId")
	if s.ec2.subnets[id] == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
	}
	for _, i := range s.ec2.instances {
		if i.subnet == id && i.state != "terminated" {
			return nil, errDependency("The subnet '%s' has dependencies and cannot be deleted.", id)
		}
	}
	for _, n := range s.ec2.nats {
		if n.subnet == id && n.state != "deleted" {
			return nil, errDependency("The subnet '%s' has dependencies and cannot be deleted.", id)
		}
	}
	if s.elb.usesSubnet(id) {
		return nil, errDependency("The subnet '%s' has dependencies and cannot be deleted.", id)
	}
	for _, r := range s.ec2.rtbs {
		r.assocs = deleteFunc(r.assocs, func(a rtAssoc) bool { return a.subnet == id })
	}
	delete(s.ec2.subnets, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

func (s *Server) createInternetGateway(p params) ([]x, *apiError) {
	id := s.nextID("igw")
	if aerr := s.tagSpecs(p, "internet-gateway", id); aerr != nil {
		return nil, aerr
	}
	s.ec2.igws[id] = &igw{}
	return []x{s.renderIGW(id, s.ec2.igws[id])}, nil
}

func (s *Server) renderIGW(id string, g *igw) x {
	var att []x
	if g.vpc != "" {
		att = append(att, el("item", txt("vpcId", g.vpc), txt("state", "available")))
	}
	return el("internetGateway", txt("internetGatewayId", id), txt("ownerId", Account),
		list("attachmentSet", "item", att), ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeInternetGateways(p params) ([]x, *apiError) {
	items, err := describe(s, p, "InternetGatewayId", s.ec2.igws, func(id string, g *igw) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "internet-gateway-id":
				return []string{id}, true
			case "attachment.vpc-id":
				return []string{g.vpc}, true
			case "attachment.state":
				if g.vpc == "" {
					return nil, true
				}
				return []string{"available"}, true
			}
			return nil, false
		}
	}, s.renderIGW, "InvalidInternetGatewayID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "internetGatewaySet", items, 5, 1000)
}

func (s *Server) attachInternetGateway(p params) ([]x, *apiError) {
	g, vid := s.ec2.igws[p.str("InternetGatewayId")], p.str("VpcId")
	switch {
	case g == nil:
		return nil, newErr(http.StatusBadRequest, "InvalidInternetGatewayID.NotFound", "The internet gateway ID '%s' does not exist", p.str("InternetGatewayId"))
	case s.ec2.vpcs[vid] == nil:
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vid)
	case g.vpc != "":
		return nil, newErr(http.StatusBadRequest, "Resource.AlreadyAssociated", "resource %s is already attached to network %s", p.str("InternetGatewayId"), g.vpc)
	}
	for _, other := range s.ec2.igws {
		if other.vpc == vid {
			return nil, newErr(http.StatusBadRequest, "Resource.AlreadyAssociated", "network %s already has an internet gateway attached", vid)
		}
	}
	g.vpc = vid
	return []x{boolean("return", true)}, nil
}

func (s *Server) detachInternetGateway(p params) ([]x, *apiError) {
	id, vid := p.str("InternetGatewayId"), p.str("VpcId")
	g := s.ec2.igws[id]
	if g == nil || g.vpc != vid {
		return nil, newErr(http.StatusBadRequest, "Gateway.NotAttached", "resource %s is not attached to network %s", id, vid)
	}
	for _, n := range s.ec2.nats {
		if n.vpc == vid && n.state != "deleted" {
			return nil, errDependency("Network %s has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.", vid)
		}
	}
	for _, i := range s.ec2.instances {
		if i.vpc == vid && i.publicIP != "" && i.state != "terminated" {
			return nil, errDependency("Network %s has some mapped public address(es). Please unmap those public address(es) before detaching the gateway.", vid)
		}
	}
	g.vpc = ""
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteInternetGateway(p params) ([]x, *apiError) {
	id := p.str("InternetGatewayId")
	g := s.ec2.igws[id]
	if g == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidInternetGatewayID.NotFound", "The internet gateway ID '%s' does not exist", id)
	}
	if g.vpc != "" {
		return nil, errDependency("The internetGateway '%s' has dependencies and cannot be deleted.", id)
	}
	delete(s.ec2.igws, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

func (s *Server) allocateAddress(p params) ([]x, *apiError) {
	id := s.nextID("eipalloc")
	if aerr := s.tagSpecs(p, "elastic-ip", id); aerr != nil {
		return nil, aerr
	}
	a := &address{publicIP: fmt.Sprintf("198.19.%d.%d", (s.seq>>8)&0xff, s.seq&0xff)}
	s.ec2.addresses[id] = a
	return []x{txt("allocationId", id), txt("publicIp", a.publicIP), txt("domain", "vpc"), txt("networkBorderGroup", Region)}, nil
}

func (s *Server) renderAddress(id string, a *address) x {
	kids := []x{txt("allocationId", id), txt("publicIp", a.publicIP), txt("domain", "vpc"), txt("networkBorderGroup", Region)}
	if a.nat != "" {
		kids = append(kids, txt("associationId", "eipassoc-"+id[9:]))
	}
	return el("item", append(kids, ec2Tags(s.ec2.tags[id]))...)
}

func (s *Server) describeAddresses(p params) ([]x, *apiError) {
	items, err := describe(s, p, "AllocationId", s.ec2.addresses, func(id string, a *address) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "allocation-id":
				return []string{id}, true
			case "public-ip":
				return []string{a.publicIP}, true
			case "domain":
				return []string{"vpc"}, true
			}
			return nil, false
		}
	}, s.renderAddress, "InvalidAllocationID.NotFound")
	if err != nil {
		return nil, err
	}
	return []x{list("addressesSet", "item", items)}, nil
}

func (s *Server) releaseAddress(p params) ([]x, *apiError) {
	id := p.str("AllocationId")
	a := s.ec2.addresses[id]
	if a == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
	}
	if a.nat != "" {
		return nil, newErr(http.StatusBadRequest, "InvalidIPAddress.InUse", "Address %s is in use.", a.publicIP)
	}
	delete(s.ec2.addresses, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

func (s *Server) createNatGateway(p params) ([]x, *apiError) {
	sn := s.ec2.subnets[p.str("SubnetId")]
	if sn == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", p.str("SubnetId"))
	}
	alloc := p.str("AllocationId")
	a := s.ec2.addresses[alloc]
	switch {
	case a == nil:
		return nil, newErr(http.StatusBadRequest, "InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", alloc)
	case a.nat != "":
		return nil, newErr(http.StatusBadRequest, "Resource.AlreadyAssociated", "Elastic IP address [%s] is already associated", alloc)
	}
	id := s.nextID("nat")
	if aerr := s.tagSpecs(p, "natgateway", id); aerr != nil {
		return nil, aerr
	}
	n := &natGateway{vpc: sn.vpc, subnet: p.str("SubnetId"), allocation: alloc, state: "pending", created: isoTime(s.now())}
	a.nat = id
	s.ec2.nats[id] = n
	return []x{s.renderNAT(id, n)}, nil
}

func (s *Server) renderNAT(id string, n *natGateway) x {
	addr := s.ec2.addresses[n.allocation]
	ip := ""
	if addr != nil {
		ip = addr.publicIP
	}
	return el("natGateway", txt("natGatewayId", id), txt("subnetId", n.subnet), txt("vpcId", n.vpc), txt("state", n.state),
		txt("createTime", n.created), txt("connectivityType", "public"),
		list("natGatewayAddressSet", "item", []x{el("item", txt("allocationId", n.allocation), opt("publicIp", ip), boolean("isPrimary", true))}),
		ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeNatGateways(p params) ([]x, *apiError) {
	items, err := describe(s, p, "NatGatewayId", s.ec2.nats, func(id string, n *natGateway) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "nat-gateway-id":
				return []string{id}, true
			case "state":
				return []string{n.state}, true
			case "subnet-id":
				return []string{n.subnet}, true
			case "vpc-id":
				return []string{n.vpc}, true
			}
			return nil, false
		}
	}, s.renderNAT, "NatGatewayNotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "natGatewaySet", items, 5, 1000)
}

func (s *Server) deleteNatGateway(p params) ([]x, *apiError) {
	id := p.str("NatGatewayId")
	n := s.ec2.nats[id]
	if n == nil || n.state == "deleted" {
		return nil, newErr(http.StatusBadRequest, "NatGatewayNotFound", "The Nat Gateway %s was not found", id)
	}
	if n.state != "deleting" {
		n.state, n.deletingStep = "deleting", s.step
	}
	return []x{txt("natGatewayId", id)}, nil
}

// stepNATLocked finishes NAT gateway transitions: pending ones become
// available, deleting ones deleted (freeing their address); deleted ones
// disappear a step later, as AWS hides them after a while.
func (s *Server) stepNATLocked() {
	for id, n := range s.ec2.nats {
		switch n.state {
		case "pending":
			n.state = "available"
		case "deleting":
			if s.step-n.deletingStep < s.opts.NATDeletionSteps {
				continue
			}
			n.state = "deleted"
			n.deletedStep = s.step
			if a := s.ec2.addresses[n.allocation]; a != nil && a.nat == id {
				a.nat = ""
			}
		case "deleted":
			if s.step > n.deletedStep+1 {
				delete(s.ec2.nats, id)
				s.forget(id)
			}
		}
	}
}

func deleteFunc[T any](in []T, del func(T) bool) []T {
	out := in[:0]
	for _, v := range in {
		if !del(v) {
			out = append(out, v)
		}
	}
	return out
}
