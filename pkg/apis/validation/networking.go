package validation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

var subnetTypes = []v1alpha1.SubnetType{v1alpha1.SubnetPublic, v1alpha1.SubnetPrivate, v1alpha1.SubnetUtility}

// ipv6Refused is the message for any IPv6 range: both providers build IPv4
// networks only, so accepting one would fail much later, on the cloud.
const ipv6Refused = "IPv6 is not supported yet; use an IPv4 CIDR"

// parseCIDR parses an IPv4 CIDR in canonical form. Host bits are refused
// because 10.0.0.1/8 is almost always a typo for a different range.
func parseCIDR(p *field.Path, s string) (netip.Prefix, *field.Error) {
	prefix, err := netip.ParsePrefix(s)
	if err != nil {
		if _, aerr := netip.ParseAddr(s); aerr == nil {
			return netip.Prefix{}, field.Invalid(p, s, fmt.Sprintf("must be a CIDR; write %s/32 for a single address", s))
		}
		return netip.Prefix{}, field.Invalid(p, s, "must be a CIDR such as 10.0.0.0/16")
	}
	if !prefix.Addr().Is4() {
		return netip.Prefix{}, field.Invalid(p, s, ipv6Refused)
	}
	if m := prefix.Masked(); m != prefix {
		return netip.Prefix{}, field.Invalid(p, s, fmt.Sprintf("has host bits set; did you mean %s?", m))
	}
	return prefix, nil
}

// looksLikeIP tells an address from a DNS name: only addresses contain a
// colon or consist of nothing but digits and dots.
func looksLikeIP(s string) bool {
	return strings.Contains(s, ":") || (s != "" && strings.Trim(s, "0123456789.") == "")
}

// optionalCIDR parses a CIDR that completion may still have to fill in; the
// zero Prefix means "absent or already reported", so dependent checks skip it.
func optionalCIDR(errs *field.ErrorList, p *field.Path, s string) netip.Prefix {
	if s == "" {
		return netip.Prefix{}
	}
	prefix, err := parseCIDR(p, s)
	if err != nil {
		*errs = append(*errs, err)
	}
	return prefix
}

// contains reports whether inner lies entirely inside outer.
func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

func validateNetworking(n *v1alpha1.NetworkingSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	network := optionalCIDR(&errs, path.Child("networkCIDR"), n.NetworkCIDR)
	pods := optionalCIDR(&errs, path.Child("podCIDR"), n.PodCIDR)
	services := optionalCIDR(&errs, path.Child("serviceClusterIPRange"), n.ServiceClusterIPRange)

	// Pod and service addresses are routed inside the cluster; if they overlap
	// the machines' network or each other, packets go to the wrong place.
	if pods.IsValid() && network.IsValid() && pods.Overlaps(network) {
		errs = append(errs, field.Invalid(path.Child("podCIDR"), n.PodCIDR, "overlaps networkCIDR "+network.String()))
	}
	if services.IsValid() && network.IsValid() && services.Overlaps(network) {
		errs = append(errs, field.Invalid(path.Child("serviceClusterIPRange"), n.ServiceClusterIPRange, "overlaps networkCIDR "+network.String()))
	}
	if services.IsValid() && pods.IsValid() && services.Overlaps(pods) {
		errs = append(errs, field.Invalid(path.Child("serviceClusterIPRange"), n.ServiceClusterIPRange, "overlaps podCIDR "+pods.String()))
	}

	if n.Topology != "" && !slices.Contains(topologies, n.Topology) {
		errs = append(errs, field.NotSupported(path.Child("topology"), n.Topology, topologies))
	}
	errs = append(errs, validateDNSName(path.Child("clusterDNSDomain"), n.ClusterDNSDomain)...)
	errs = append(errs, validateSubnets(n.Subnets, path.Child("subnets"), network, pods, services)...)

	if n.Topology == v1alpha1.TopologyPrivate &&
		!slices.ContainsFunc(n.Subnets, func(s v1alpha1.SubnetSpec) bool { return s.Type == v1alpha1.SubnetPrivate }) {
		errs = append(errs, field.Required(path.Child("subnets"), "topology private needs at least one Private subnet for the nodes"))
	}
	return errs
}

func validateSubnets(subnets []v1alpha1.SubnetSpec, path *field.Path, network, pods, services netip.Prefix) field.ErrorList {
	if len(subnets) == 0 {
		return field.ErrorList{field.Required(path, "at least one subnet is needed")}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	parsed := make([]netip.Prefix, len(subnets))
	for i, s := range subnets {
		sp := path.Index(i)
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(sp.Child("name"), ""))
		case names[s.Name]:
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		default:
			// Subnet names become parts of cloud resource names and tags.
			if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 {
				errs = append(errs, field.Invalid(sp.Child("name"), s.Name, strings.Join(msgs, "; ")))
			}
		}
		names[s.Name] = true
		if s.Zone == "" {
			errs = append(errs, field.Required(sp.Child("zone"), "name the zone the subnet lives in"))
		}
		switch {
		case s.Type == "":
			errs = append(errs, field.Required(sp.Child("type"), "Public, Private or Utility"))
		case !slices.Contains(subnetTypes, s.Type):
			errs = append(errs, field.NotSupported(sp.Child("type"), s.Type, subnetTypes))
		}

		cp := sp.Child("cidr")
		cidr := optionalCIDR(&errs, cp, s.CIDR)
		if !cidr.IsValid() {
			continue
		}
		parsed[i] = cidr
		if network.IsValid() && !contains(network, cidr) {
			errs = append(errs, field.Invalid(cp, s.CIDR, "is not inside networkCIDR "+network.String()))
		}
		for j := range i {
			if parsed[j].IsValid() && parsed[j].Overlaps(cidr) {
				errs = append(errs, field.Invalid(cp, s.CIDR,
					fmt.Sprintf("overlaps subnet %s (%s)", subnets[j].Name, parsed[j])))
			}
		}
		if pods.IsValid() && pods.Overlaps(cidr) {
			errs = append(errs, field.Invalid(cp, s.CIDR, "overlaps podCIDR "+pods.String()))
		}
		if services.IsValid() && services.Overlaps(cidr) {
			errs = append(errs, field.Invalid(cp, s.CIDR, "overlaps serviceClusterIPRange "+services.String()))
		}
	}
	return errs
}

// validateAccessList checks the CIDRs allowed to reach SSH or the API.
func validateAccessList(cidrs []string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range cidrs {
		if s == "" {
			errs = append(errs, field.Required(path.Index(i), "a CIDR such as 203.0.113.0/24 (0.0.0.0/0 for everyone)"))
			continue
		}
		if _, err := parseCIDR(path.Index(i), s); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
