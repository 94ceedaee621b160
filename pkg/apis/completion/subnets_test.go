package completion

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func TestAssignSubnetCIDRs(t *testing.T) {
	const (
		pub  = v1alpha1.SubnetPublic
		priv = v1alpha1.SubnetPrivate
		util = v1alpha1.SubnetUtility
	)
	type subnet struct {
		typ  v1alpha1.SubnetType
		cidr string
	}
	tests := []struct {
		name    string
		network string
		in      []subnet // cidr "" = to be carved
		want    []string
		wantErr string
	}{
		{
			name:    "three public subnets skip the first eighth",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, ""}, {pub, ""}, {pub, ""}},
			want:    []string{"172.20.32.0/19", "172.20.64.0/19", "172.20.96.0/19"},
		},
		{
			name:    "private and utility subnets, kops layout",
			network: "172.20.0.0/16",
			in:      []subnet{{priv, ""}, {priv, ""}, {priv, ""}, {util, ""}, {util, ""}, {util, ""}},
			want: []string{
				"172.20.32.0/19", "172.20.64.0/19", "172.20.96.0/19",
				"172.20.0.0/22", "172.20.4.0/22", "172.20.8.0/22",
			},
		},
		{
			name:    "utility first does not change the big ranges",
			network: "172.20.0.0/16",
			in:      []subnet{{util, ""}, {priv, ""}},
			want:    []string{"172.20.0.0/22", "172.20.32.0/19"},
		},
		{
			name:    "ranges the user placed are skipped",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, ""}, {pub, "172.20.32.0/19"}, {pub, ""}, {util, "172.20.0.0/22"}, {util, ""}},
			want:    []string{"172.20.64.0/19", "172.20.32.0/19", "172.20.96.0/19", "172.20.0.0/22", "172.20.4.0/22"},
		},
		{
			name:    "a user range that overlaps part of a block removes the whole block",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, "172.20.40.0/24"}, {pub, ""}},
			want:    []string{"172.20.40.0/24", "172.20.64.0/19"},
		},
		{
			name:    "a user range outside the network removes nothing",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, "10.0.0.0/24"}, {pub, ""}},
			want:    []string{"10.0.0.0/24", "172.20.32.0/19"},
		},
		{
			name:    "sizes are relative to the network",
			network: "10.0.0.0/8",
			in:      []subnet{{priv, ""}, {util, ""}},
			want:    []string{"10.32.0.0/11", "10.0.0.0/14"},
		},
		{
			name:    "host bits in networkCIDR are ignored",
			network: "10.1.2.3/24",
			in:      []subnet{{pub, ""}, {util, ""}},
			want:    []string{"10.1.2.32/27", "10.1.2.0/30"},
		},
		{
			name:    "all CIDRs given: networkCIDR is not even parsed",
			network: "not-a-cidr",
			in:      []subnet{{pub, "172.20.32.0/19"}},
			want:    []string{"172.20.32.0/19"},
		},
		{
			name:    "seven big ranges fit",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}},
			want: []string{
				"172.20.32.0/19", "172.20.64.0/19", "172.20.96.0/19", "172.20.128.0/19",
				"172.20.160.0/19", "172.20.192.0/19", "172.20.224.0/19",
			},
		},
		{
			name:    "the eighth big range does not",
			network: "172.20.0.0/16",
			in:      []subnet{{pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {pub, ""}, {priv, ""}},
			wantErr: `spec.networking.subnets[7].cidr: no free range left in networkCIDR 172.20.0.0/16 for Private subnet "s7"`,
		},
		{
			name:    "the ninth utility range does not",
			network: "172.20.0.0/16",
			in:      []subnet{{util, ""}, {util, ""}, {util, ""}, {util, ""}, {util, ""}, {util, ""}, {util, ""}, {util, ""}, {util, ""}},
			wantErr: `spec.networking.subnets[8].cidr: no free range left in networkCIDR 172.20.0.0/16 for Utility subnet "s8"`,
		},
		{
			name:    "network too small to split",
			network: "10.0.0.0/28",
			in:      []subnet{{pub, ""}},
			wantErr: "spec.networking.networkCIDR: 10.0.0.0/28 is too small to carve utility subnets from: cannot cut a /31 into /34 ranges",
		},
		{
			name:    "IPv6 works the same way",
			network: "fd00:10::/48",
			in:      []subnet{{pub, ""}, {util, ""}},
			want:    []string{"fd00:10:0:2000::/51", "fd00:10::/54"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subnets := make([]v1alpha1.SubnetSpec, len(tt.in))
			for i, s := range tt.in {
				subnets[i] = v1alpha1.SubnetSpec{Name: "s" + string(rune('0'+i)), Type: s.typ, CIDR: s.cidr}
			}
			err := assignSubnetCIDRs(tt.network, subnets)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("assignSubnetCIDRs: %v", err)
			}
			got := make([]string, len(subnets))
			for i, s := range subnets {
				got[i] = s.CIDR
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CIDRs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitPrefix(t *testing.T) {
	got, err := splitPrefix(netip.MustParsePrefix("192.168.0.0/24"), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("192.168.0.0/26"), netip.MustParsePrefix("192.168.0.64/26"),
		netip.MustParsePrefix("192.168.0.128/26"), netip.MustParsePrefix("192.168.0.192/26"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("splitPrefix (-want +got):\n%s", diff)
	}
}
