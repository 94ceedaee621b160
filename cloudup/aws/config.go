package aws

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// imdsRegionTimeout bounds the region lookup in the instance metadata
// service, which off EC2 only times out.
const imdsRegionTimeout = 3 * time.Second

// ErrNoRegion: neither the environment, the profile, the cluster's zones
// nor the instance metadata service named a region.
var ErrNoRegion = errors.New("no AWS region: set AWS_REGION (or a region in the AWS profile), or run on EC2")

// LoadConfig loads the standard AWS chain (environment, profiles, SSO,
// IMDS credentials; AWS_ENDPOINT_URL[_<SERVICE>]) and settles the region:
// the environment's or the profile's when they name one, else the
// cluster's (its zones' region, "" when there is no cluster), else the
// one the instance metadata service reports, so hull runs on an EC2 host
// such as a bastion with no configuration at all.
func LoadConfig(ctx context.Context, c *v1alpha1.Cluster) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, settleRegion(ctx, &cfg, c)
}

// settleRegion fills in cfg's region from the cluster or IMDS, and refuses
// one that contradicts the cluster's zones.
func settleRegion(ctx context.Context, cfg *aws.Config, c *v1alpha1.Cluster) error {
	region, field, zone := clusterRegion(c)
	switch {
	case cfg.Region != "" && region != "" && cfg.Region != region:
		return fmt.Errorf("%s: zone %s is in region %s, but the AWS configuration (AWS_REGION, AWS_DEFAULT_REGION or the profile) "+
			"selects %s; unset it or make the two agree", field, zone, region, cfg.Region)
	case cfg.Region != "":
		return nil
	case region != "":
		cfg.Region = region
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, imdsRegionTimeout)
	defer cancel()
	out, err := imds.NewFromConfig(*cfg).GetRegion(ictx, &imds.GetRegionInput{})
	if err != nil || out.Region == "" {
		return fmt.Errorf("%w (instance metadata: %v)", ErrNoRegion, err)
	}
	cfg.Region = out.Region
	return nil
}

// clusterRegion is the region of the cluster's zones and the field of the
// first zone, for errors; "" without a cluster.
func clusterRegion(c *v1alpha1.Cluster) (region, field, zone string) {
	if c == nil {
		return "", "", ""
	}
	for i, s := range c.Spec.Networking.Subnets {
		if r, ok := awsmodel.RegionOfZone(s.Zone); ok {
			return r, fmt.Sprintf("spec.networking.subnets[%d].zone", i), s.Zone
		}
	}
	return "", "", ""
}
