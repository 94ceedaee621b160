package completion

import (
	"fmt"
	"net/netip"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// assignSubnetCIDRs gives every subnet without a CIDR a range carved from
// networkCIDR. Public and Private subnets get the big ranges (eighths of the
// network, /19s of a /16) after the first; Utility subnets get the little
// ranges (eighths of the first eighth, /22s of a /16). Ranges that overlap a
// subnet the user already placed are skipped. Subnets are filled in the order
// the user wrote them, so adding a subnet at the end never moves another one.
func assignSubnetCIDRs(networkCIDR string, subnets []v1alpha1.SubnetSpec) error {
	if !anySubnetWithoutCIDR(subnets) {
		return nil
	}
	network, err := netip.ParsePrefix(networkCIDR)
	if err != nil {
		return fmt.Errorf("spec.networking.networkCIDR: %w", err)
	}
	network = network.Masked()
	big, err := splitPrefix(network, bigSubnetExtraBits)
	if err != nil {
		return fmt.Errorf("spec.networking.networkCIDR: %s is too small to carve subnets from: %w", network, err)
	}
	little, err := splitPrefix(big[0], littleSubnetExtraBits)
	if err != nil {
		return fmt.Errorf("spec.networking.networkCIDR: %s is too small to carve utility subnets from: %w", network, err)
	}
	big = big[1:]

	for i, s := range subnets {
		if s.CIDR == "" {
			continue
		}
		used, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			return fmt.Errorf("spec.networking.subnets[%d].cidr: %w", i, err)
		}
		big = withoutOverlapping(big, used)
		little = withoutOverlapping(little, used)
	}

	for i := range subnets {
		s := &subnets[i]
		if s.CIDR != "" {
			continue
		}
		pool := &big
		if s.Type == v1alpha1.SubnetUtility {
			pool = &little
		}
		if len(*pool) == 0 {
			return fmt.Errorf("spec.networking.subnets[%d].cidr: no free range left in networkCIDR %s for %s subnet %q; give it a cidr or use a larger networkCIDR",
				i, network, subnetKind(s.Type), s.Name)
		}
		s.CIDR = (*pool)[0].String()
		*pool = (*pool)[1:]
	}
	return nil
}

func anySubnetWithoutCIDR(subnets []v1alpha1.SubnetSpec) bool {
	for _, s := range subnets {
		if s.CIDR == "" {
			return true
		}
	}
	return false
}

func subnetKind(t v1alpha1.SubnetType) string {
	if t == "" {
		return "untyped"
	}
	return string(t)
}

// splitPrefix cuts p into 2^extraBits equal, consecutive prefixes.
func splitPrefix(p netip.Prefix, extraBits int) ([]netip.Prefix, error) {
	bits := p.Bits() + extraBits
	if bits > p.Addr().BitLen() {
		return nil, fmt.Errorf("cannot cut a /%d into /%d ranges", p.Bits(), bits)
	}
	base := p.Masked().Addr().AsSlice()
	out := make([]netip.Prefix, 0, 1<<extraBits)
	for i := 0; i < 1<<extraBits; i++ {
		addr := append([]byte(nil), base...)
		for j := 0; j < extraBits; j++ {
			if i>>(extraBits-1-j)&1 == 1 {
				bit := p.Bits() + j
				addr[bit/8] |= 0x80 >> (bit % 8)
			}
		}
		a, _ := netip.AddrFromSlice(addr)
		out = append(out, netip.PrefixFrom(a, bits))
	}
	return out, nil
}

// withoutOverlapping returns the prefixes of pool that do not overlap used.
func withoutOverlapping(pool []netip.Prefix, used netip.Prefix) []netip.Prefix {
	out := pool[:0:0]
	for _, p := range pool {
		if !p.Overlaps(used) {
			out = append(out, p)
		}
	}
	return out
}
