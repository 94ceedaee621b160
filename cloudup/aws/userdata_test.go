package aws_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"k8s.io/utils/ptr"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/internal/golden"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// TestUserDataGolden creates 1 and 3 control-plane clusters, public and
// private (with a bastion), and pins the user-data of every launch
// template as AWS holds it (base64-decoded), with its IMDS and profile.
func TestUserDataGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		opts   newcluster.Options
	}{
		{"userdata-public-1cp", newcluster.Options{Name: "one.example.com", Zones: []string{"us-east-1a"}}},
		{"userdata-public-3cp", newcluster.Options{Name: "three.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}, ControlPlaneCount: ptr.To(3),
			DNSZone: "example.com"}},
		{"userdata-private-1cp", newcluster.Options{Name: "private-one.example.com", Zones: []string{"us-east-1a"},
			Topology: v1alpha1.TopologyPrivate, Bastion: true}},
		{"userdata-private-3cp", newcluster.Options{Name: "private-three.example.com", Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
			ControlPlaneCount: ptr.To(3), Topology: v1alpha1.TopologyPrivate, Bastion: true, DNSZone: "example.com"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			e := newEnv(t, tc.opts, awstest.Options{})
			if tc.opts.DNSZone != "" {
				e.srv.AddHostedZone(tc.opts.DNSZone)
			}
			e.update(true)
			cfgs := e.nodeupConfigs()
			out, err := ec2.NewFromConfig(e.cfg).DescribeLaunchTemplateVersions(context.Background(),
				&ec2.DescribeLaunchTemplateVersionsInput{Versions: []string{"$Latest"}})
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, v := range out.LaunchTemplateVersions {
				d := v.LaunchTemplateData
				ud, err := base64.StdEncoding.DecodeString(aws.ToString(d.UserData))
				if err != nil {
					t.Fatal(err)
				}
				group := strings.TrimSuffix(aws.ToString(v.LaunchTemplateName), "."+e.name)
				parts = append(parts, fmt.Sprintf("=== %s (%s, profile %s, IMDS tokens %s hop limit %d, API at %s) ===\n%s",
					aws.ToString(v.LaunchTemplateName), d.InstanceType, aws.ToString(d.IamInstanceProfile.Name),
					d.MetadataOptions.HttpTokens, aws.ToInt32(d.MetadataOptions.HttpPutResponseHopLimit), cfgs[group].APIServer, ud))
			}
			sort.Strings(parts)
			got := strings.Join(parts, "")
			golden.Check(t, filepath.Join("testdata", tc.golden+".golden"), got)
			e.updateIsClean("the second update")
			e.delete()
			e.srv.Reconcile()
			if left := e.srv.Leftovers(); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}
