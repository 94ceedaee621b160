package awstest

import (
	"net/http"
	"net/netip"
	"slices"
)

type route struct {
	dest     string
	gateway  string // igw id or "local"
	nat      string
	instance string
}

type rtAssoc struct {
	id     string
	subnet string
}

type routeTable struct {
	vpc    string
	main   bool
	routes []route
	assocs []rtAssoc
}

func (s *Server) createRouteTable(p params) ([]x, *apiError) {
	vid := p.str("VpcId")
	v := s.ec2.vpcs[vid]
	if v == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vid)
	}
	id := s.nextID("rtb")
	if aerr := s.tagSpecs(p, "route-table", id); aerr != nil {
		return nil, aerr
	}
	r := &routeTable{vpc: vid, routes: []route{{dest: v.cidr.String(), gateway: "local"}}}
	s.ec2.rtbs[id] = r
	return []x{s.renderRouteTable(id, r)}, nil
}

func (s *Server) renderRouteTable(id string, r *routeTable) x {
	var routes, assocs []x
	for _, rt := range r.routes {
		state, origin := "active", "CreateRoute"
		if rt.gateway == "local" {
			origin = "CreateRouteTable"
		}
		if n := s.ec2.nats[rt.nat]; rt.nat != "" && (n == nil || n.state == "deleted") {
			state = "blackhole"
		}
		if g := s.ec2.igws[rt.gateway]; rt.gateway != "" && rt.gateway != "local" && (g == nil || g.vpc != r.vpc) {
			state = "blackhole"
		}
		var inst []x
		if rt.instance != "" {
			if i := s.ec2.instances[rt.instance]; i == nil || i.state == "terminated" || i.state == "shutting-down" {
				state = "blackhole"
			}
			inst = []x{txt("instanceId", rt.instance), txt("instanceOwnerId", Account), txt("networkInterfaceId", "eni-"+rt.instance[2:])}
		}
		routes = append(routes, el("item", append([]x{txt("destinationCidrBlock", rt.dest), opt("gatewayId", rt.gateway),
			opt("natGatewayId", rt.nat), txt("state", state), txt("origin", origin)}, inst...)...))
	}
	if r.main {
		assocs = append(assocs, el("item", txt("routeTableAssociationId", "rtbassoc-"+id[4:]), txt("routeTableId", id),
			boolean("main", true), el("associationState", txt("state", "associated"))))
	}
	for _, a := range r.assocs {
		assocs = append(assocs, el("item", txt("routeTableAssociationId", a.id), txt("routeTableId", id), txt("subnetId", a.subnet),
			boolean("main", false), el("associationState", txt("state", "associated"))))
	}
	return el("routeTable", txt("routeTableId", id), txt("vpcId", r.vpc), txt("ownerId", Account),
		list("routeSet", "item", routes), list("associationSet", "item", assocs), list("propagatingVgwSet", "item", nil),
		ec2Tags(s.ec2.tags[id]))
}

func (s *Server) describeRouteTables(p params) ([]x, *apiError) {
	items, err := describe(s, p, "RouteTableId", s.ec2.rtbs, func(id string, r *routeTable) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "route-table-id":
				return []string{id}, true
			case "vpc-id":
				return []string{r.vpc}, true
			case "association.main":
				return []string{boolString(r.main)}, true
			case "association.subnet-id":
				var out []string
				for _, a := range r.assocs {
					out = append(out, a.subnet)
				}
				return out, true
			case "association.route-table-association-id":
				var out []string
				for _, a := range r.assocs {
					out = append(out, a.id)
				}
				return out, true
			}
			return nil, false
		}
	}, s.renderRouteTable, "InvalidRouteTableID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "routeTableSet", items, 5, 100)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func (s *Server) deleteRouteTable(p params) ([]x, *apiError) {
	id := p.str("RouteTableId")
	r := s.ec2.rtbs[id]
	switch {
	case r == nil:
		return nil, newErr(http.StatusBadRequest, "InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
	case r.main || len(r.assocs) > 0:
		return nil, errDependency("The routeTable '%s' has dependencies and cannot be deleted.", id)
	}
	delete(s.ec2.rtbs, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

// routeFrom reads and checks a route's destination and target.
func (s *Server) routeFrom(p params, r *routeTable) (route, *apiError) {
	dest, err := netip.ParsePrefix(p.str("DestinationCidrBlock"))
	if err != nil {
		return route{}, errInvalidParameter("Value (%s) for parameter destinationCidrBlock is invalid", p.str("DestinationCidrBlock"))
	}
	rt := route{dest: dest.String(), gateway: p.str("GatewayId"), nat: p.str("NatGatewayId"), instance: p.str("InstanceId")}
	switch {
	case rt.instance != "":
		i := s.ec2.instances[rt.instance]
		if i == nil || i.state == "terminated" {
			return rt, newErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", rt.instance)
		}
		if i.vpc != r.vpc {
			return rt, errInvalidParameter("route table and instance %s belong to different networks", rt.instance)
		}
	case rt.gateway != "":
		g := s.ec2.igws[rt.gateway]
		if g == nil {
			return rt, newErr(http.StatusBadRequest, "InvalidGatewayID.NotFound", "The gateway ID '%s' does not exist", rt.gateway)
		}
		if g.vpc != r.vpc {
			return rt, errInvalidParameter("route table and network gateway %s belong to different networks", rt.gateway)
		}
	case rt.nat != "":
		n := s.ec2.nats[rt.nat]
		if n == nil || n.state == "deleted" || n.state == "deleting" {
			return rt, newErr(http.StatusBadRequest, "InvalidNatGatewayID.NotFound", "The natGateway ID '%s' does not exist", rt.nat)
		}
	default:
		return rt, newErr(http.StatusBadRequest, "MissingParameter", "a route target is required")
	}
	return rt, nil
}

func (s *Server) routeTable(p params) (string, *routeTable, *apiError) {
	id := p.str("RouteTableId")
	r := s.ec2.rtbs[id]
	if r == nil {
		return id, nil, newErr(http.StatusBadRequest, "InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
	}
	return id, r, nil
}

func (s *Server) createRoute(p params) ([]x, *apiError) {
	_, r, aerr := s.routeTable(p)
	if aerr != nil {
		return nil, aerr
	}
	rt, aerr := s.routeFrom(p, r)
	if aerr != nil {
		return nil, aerr
	}
	if slices.ContainsFunc(r.routes, func(o route) bool { return o.dest == rt.dest }) {
		return nil, newErr(http.StatusBadRequest, "RouteAlreadyExists", "The route identified by %s already exists.", rt.dest)
	}
	r.routes = append(r.routes, rt)
	return []x{boolean("return", true)}, nil
}

func (s *Server) replaceRoute(p params) ([]x, *apiError) {
	_, r, aerr := s.routeTable(p)
	if aerr != nil {
		return nil, aerr
	}
	rt, aerr := s.routeFrom(p, r)
	if aerr != nil {
		return nil, aerr
	}
	i := slices.IndexFunc(r.routes, func(o route) bool { return o.dest == rt.dest })
	if i < 0 || r.routes[i].gateway == "local" {
		return nil, newErr(http.StatusBadRequest, "InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table", rt.dest)
	}
	r.routes[i] = rt
	return []x{boolean("return", true)}, nil
}

func (s *Server) deleteRoute(p params) ([]x, *apiError) {
	_, r, aerr := s.routeTable(p)
	if aerr != nil {
		return nil, aerr
	}
	dest := p.str("DestinationCidrBlock")
	i := slices.IndexFunc(r.routes, func(o route) bool { return o.dest == dest && o.gateway != "local" })
	if i < 0 {
		return nil, newErr(http.StatusBadRequest, "InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table", dest)
	}
	r.routes = slices.Delete(r.routes, i, i+1)
	return []x{boolean("return", true)}, nil
}

func (s *Server) associateRouteTable(p params) ([]x, *apiError) {
	id, r, aerr := s.routeTable(p)
	if aerr != nil {
		return nil, aerr
	}
	sid := p.str("SubnetId")
	sn := s.ec2.subnets[sid]
	if sn == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", sid)
	}
	if sn.vpc != r.vpc {
		return nil, errInvalidParameter("route table %s and subnet %s belong to different networks", id, sid)
	}
	for _, other := range s.ec2.rtbs {
		if slices.ContainsFunc(other.assocs, func(a rtAssoc) bool { return a.subnet == sid }) {
			return nil, newErr(http.StatusBadRequest, "Resource.AlreadyAssociated", "the specified association for route table %s conflicts with an existing association", id)
		}
	}
	a := rtAssoc{id: s.nextID("rtbassoc"), subnet: sid}
	r.assocs = append(r.assocs, a)
	return []x{txt("associationId", a.id), el("associationState", txt("state", "associated"))}, nil
}

func (s *Server) disassociateRouteTable(p params) ([]x, *apiError) {
	aid := p.str("AssociationId")
	for _, r := range s.ec2.rtbs {
		if i := slices.IndexFunc(r.assocs, func(a rtAssoc) bool { return a.id == aid }); i >= 0 {
			r.assocs = slices.Delete(r.assocs, i, i+1)
			return []x{boolean("return", true)}, nil
		}
	}
	return nil, newErr(http.StatusBadRequest, "InvalidAssociationID.NotFound", "The association ID '%s' does not exist", aid)
}
