package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
)

// keyPairResource is the key pair the launch templates name for SSH:
// spec.sshKeyName must exist already (the plan stops when it does not);
// spec.sshPublicKey is imported, tagged for the cluster.
func (p *Provider) keyPairResource(k awsmodel.KeyPair) cloud.Resource {
	source := "spec.sshKeyName"
	if k.Imported() {
		source = "spec.sshPublicKey"
	}
	fields := map[string]string{"source": source}
	find := func(ctx context.Context) (map[string]string, error) {
		have, err := p.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{k.Name}})
		if err != nil && !hasCode(err, "InvalidKeyPair.NotFound") {
			return nil, wrap(err, "describe key pair %s", k.Name)
		}
		switch {
		case err == nil && len(have.KeyPairs) > 0:
			for _, kp := range have.KeyPairs {
				if err := p.checkOwner("key pair "+k.Name, ec2TagMap(kp.Tags)); err != nil {
					return nil, err
				}
			}
			return fields, nil
		case k.Imported():
			return nil, nil
		}
		return nil, fmt.Errorf("spec.sshKeyName: there is no EC2 key pair %q in this account and region; import one or set spec.sshPublicKey", k.Name)
	}
	return cloud.Resource{
		Kind: kindKeyPair, Name: k.Name,
		Fields:   fields,
		NeededBy: []string{neededByLaunchConfig},
		Find:     find,
		Apply: func(ctx context.Context) error {
			// Found again so that a key pair another identity imported
			// under the name is refused, not taken as made.
			if have, err := find(ctx); err != nil || have != nil {
				return err
			}
			_, err := p.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(k.Name), PublicKeyMaterial: []byte(k.PublicKey),
				TagSpecifications: tagSpec(ec2types.ResourceTypeKeyPair, k.Tags)})
			if hasCode(err, "InvalidKeyPair.Duplicate") {
				return nil
			}
			return wrap(err, "import spec.sshPublicKey as key pair %s", k.Name)
		},
	}
}

// clusterKeyPairs lists the key pairs hull imported for the cluster, by
// the cluster tag: the current one and any a changed key left behind.
func (p *Provider) clusterKeyPairs(ctx context.Context) ([]ec2types.KeyPairInfo, error) {
	out, err := p.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []ec2types.Filter{p.clusterFilter()}})
	if err != nil {
		return nil, wrap(err, "describe key pairs of %s", p.name())
	}
	for _, k := range out.KeyPairs {
		if err := p.checkOwner("key pair "+aws.ToString(k.KeyName), ec2TagMap(k.Tags)); err != nil {
			return nil, err
		}
	}
	return out.KeyPairs, nil
}

// deleteKeyPairs deletes the key pairs hull imported for the cluster; a
// key pair named by spec.sshKeyName is not tagged for it and stays.
func (p *Provider) deleteKeyPairs(ctx context.Context, d *deleter) {
	keys, err := p.clusterKeyPairs(ctx)
	if err != nil {
		d.fail("key pairs", err)
		return
	}
	for _, k := range keys {
		d.do(ctx, "key pair "+aws.ToString(k.KeyName), func() error {
			_, err := p.ec2.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: k.KeyPairId})
			return err
		})
	}
}
