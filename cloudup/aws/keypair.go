package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// ensureKeyPair makes sure the key pair the launch templates name exists,
// once per provider: spec.sshKeyName must exist already; spec.sshPublicKey
// is imported, tagged for the cluster. It returns the name, "" for none.
func (p *Provider) ensureKeyPair(ctx context.Context) (string, error) {
	k := p.model.KeyPair
	if k.Name == "" {
		return "", nil
	}
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if p.keyReady {
		return k.Name, nil
	}
	have, err := p.ec2.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{k.Name}})
	if err == nil {
		for _, kp := range have.KeyPairs {
			if err := p.checkOwner("key pair "+k.Name, ec2TagMap(kp.Tags)); err != nil {
				return "", err
			}
		}
	}
	switch {
	case hasCode(err, "InvalidKeyPair.NotFound") && !k.Imported():
		return "", fmt.Errorf("spec.sshKeyName: there is no EC2 key pair %q in this account and region; import one or set spec.sshPublicKey", k.Name)
	case hasCode(err, "InvalidKeyPair.NotFound"):
		if _, err := p.ec2.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String(k.Name), PublicKeyMaterial: []byte(k.PublicKey),
			TagSpecifications: tagSpec(ec2types.ResourceTypeKeyPair, k.Tags)}); err != nil && !hasCode(err, "InvalidKeyPair.Duplicate") {
			return "", wrap(err, "import spec.sshPublicKey as key pair %s", k.Name)
		}
	case err != nil:
		return "", wrap(err, "describe key pair %s", k.Name)
	}
	p.keyReady = true
	return k.Name, nil
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
	p.keyMu.Lock()
	p.keyReady = false
	p.keyMu.Unlock()
}
