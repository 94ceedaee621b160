package aws

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/terraform"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

func init() { cloud.Register(Driver{}) }

// Defaults of an aws cluster.
const (
	// MachineType fits a control plane (apiserver + two etcds) and a
	// useful node in 4 GiB; kops chooses a similar burstable type.
	MachineType = "t3.medium"
	// BastionMachineType is the smallest type that runs sshd well.
	BastionMachineType = "t3.micro"
	// ImageSuffix marks the architecture of the AWS image: hull's default
	// machine types are amd64. `hull image build --cloud aws` names AMIs
	// by the channel's pattern (hull-kubernetes-{version}-amd64-*) and the
	// provider picks the newest AMI whose name starts with this one.
	ImageSuffix = "-amd64"
)

// Driver is the aws cloud as hull registers it (see cloud.Driver).
type Driver struct{}

var _ cloud.Driver = Driver{}

// Name is spec.cloudProvider's aws.
func (Driver) Name() string { return v1alpha1.CloudAWS }

// MachineType is a burstable type; a bastion's is the smallest.
func (Driver) MachineType(role v1alpha1.InstanceGroupRole) string {
	if role == v1alpha1.RoleBastion {
		return BastionMachineType
	}
	return MachineType
}

// Image is the AMI name prefix of the version's amd64 images.
func (Driver) Image(name string) string { return name + ImageSuffix }

// DefaultZones is nil: an aws cluster names its zones, and so its region.
func (Driver) DefaultZones() []string { return nil }

// CheckZones requires AWS zone names in one region.
func (Driver) CheckZones(zones []string) error {
	first, _ := awsmodel.RegionOfZone(zones[0])
	for _, z := range zones {
		region, ok := awsmodel.RegionOfZone(z)
		if !ok {
			return fmt.Errorf("%q is not an AWS zone such as us-east-1a", z)
		}
		if region != first {
			return fmt.Errorf("%s is in region %s, %s in %s; a cluster's zones share one region", z, region, zones[0], first)
		}
	}
	return nil
}

// Settings are the Route 53 zone and the EC2 key pair.
func (Driver) Settings() []string { return []string{"dnsZone", "sshKeyName", "sshPublicKey"} }

// Validate checks the zones, the DNS zone and the SSH key settings.
func (Driver) Validate(c *v1alpha1.Cluster) field.ErrorList { return validateSpec(c) }

// Images are AMIs baked from the channel's base image, searched by owner.
func (Driver) Images() cloud.ImageRules { return cloud.ImageRules{Baked: true, Owner: true} }

// APIHost is spec.api.publicName when Route 53 holds it (spec.dnsZone);
// without a zone hull publishes no record, so the public name would not
// resolve, and machines use the name AWS gives the load balancer.
func (Driver) APIHost(c *v1alpha1.Cluster) (string, error) {
	if c.Spec.DNSZone == "" {
		return "", nil
	}
	return c.Spec.API.PublicName, nil
}

// Terraform writes the cluster as aws Terraform resources.
func (Driver) Terraform() cloud.Terraform { return terraformOutput{} }

// Connect builds the provider for the completed cluster; it makes no API call.
func (Driver) Connect(ctx context.Context, c *v1alpha1.Cluster, o cloud.ConnectOptions) (cloud.Provider, error) {
	p, err := New(ctx, c, Options{Owner: o.Owner})
	if err != nil {
		return nil, fmt.Errorf("connect to AWS for cluster %s: %w", c.Metadata.Name, err)
	}
	return p, nil
}

// terraformOutput is package terraform as cloud.Terraform.
type terraformOutput struct{}

func (terraformOutput) Check(c *v1alpha1.Cluster) error {
	if c.Spec.DNSZone == "" {
		return terraform.ErrNeedsDNSZone
	}
	return nil
}

func (terraformOutput) Render(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner cloud.Owner) (map[string][]byte, error) {
	files, _, err := terraform.Render(c, igs, userData, owner)
	return files, err
}

func (terraformOutput) Write(dir string, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner cloud.Owner) error {
	return terraform.WriteTerraform(dir, c, igs, userData, owner)
}

func (terraformOutput) DataDir() string { return terraform.DataDir }
