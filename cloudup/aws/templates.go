package aws

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/cloud"
)

type imageInfo struct {
	id, rootDevice string
}

// FindImage finds the newest available AMI named name, or name-<suffix>
// as `hull image build` names them (the channel's pattern, such as
// hull-kubernetes-1.37.2-amd64-*), among Options.ImageOwners.
func (p *Provider) FindImage(ctx context.Context, name string) (*cloud.Image, error) {
	img, err := p.image(ctx, name)
	if err != nil {
		return nil, err
	}
	return &cloud.Image{Name: name, ID: img.id}, nil
}

func (p *Provider) image(ctx context.Context, name string) (imageInfo, error) {
	p.mu.Lock()
	img, ok := p.images[name]
	p.mu.Unlock()
	if ok {
		return img, nil
	}
	out, err := p.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: p.opts.ImageOwners,
		Filters: []ec2types.Filter{{Name: aws.String("name"), Values: []string{name, name + "-*"}}, {Name: aws.String("state"), Values: []string{"available"}}}})
	if err != nil {
		return img, wrap(err, "describe image %s", name)
	}
	var newest *ec2types.Image
	for i := range out.Images {
		if newest == nil || aws.ToString(out.Images[i].CreationDate) > aws.ToString(newest.CreationDate) {
			newest = &out.Images[i]
		}
	}
	if newest == nil {
		return img, fmt.Errorf("AMI %s owned by %v: %w", name, p.opts.ImageOwners, cloud.ErrNotFound)
	}
	img = imageInfo{id: aws.ToString(newest.ImageId), rootDevice: aws.ToString(newest.RootDeviceName)}
	p.mu.Lock()
	p.images[name] = img
	p.mu.Unlock()
	return img, nil
}

// describeTemplates lists the cluster's launch templates in one paginated
// call, by the cluster tag.
func (p *Provider) describeTemplates(ctx context.Context) ([]ec2types.LaunchTemplate, error) {
	var out []ec2types.LaunchTemplate
	pages := ec2.NewDescribeLaunchTemplatesPaginator(p.ec2, &ec2.DescribeLaunchTemplatesInput{
		Filters: []ec2types.Filter{p.clusterFilter()}, MaxResults: aws.Int32(maxTemplates)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, wrap(err, "describe launch templates of %s", p.name())
		}
		for _, lt := range page.LaunchTemplates {
			if err := p.checkOwner("launch template "+aws.ToString(lt.LaunchTemplateName), ec2TagMap(lt.Tags)); err != nil {
				return nil, err
			}
		}
		out = append(out, page.LaunchTemplates...)
	}
	return out, nil
}

// FindLaunchConfigs returns every group's launch template. ConfigVersion
// is the cloudup config version hull tagged the template with, or "" when
// someone made a later template version than the one the tag describes.
func (p *Provider) FindLaunchConfigs(ctx context.Context, cluster string) ([]*cloud.LaunchConfig, error) {
	if err := p.checkCluster(cluster); err != nil {
		return nil, err
	}
	lts, err := p.describeTemplates(ctx)
	if err != nil {
		return nil, err
	}
	out := []*cloud.LaunchConfig{}
	for _, lt := range lts {
		tags := ec2TagMap(lt.Tags)
		group := tags[awsmodel.TagInstanceGroup]
		if group == "" {
			continue
		}
		lc := &cloud.LaunchConfig{Cluster: cluster, Group: group, Image: tags[awsmodel.TagImage], MachineType: tags[awsmodel.TagMachineType]}
		// A template naming another SSH key pair than the spec's is out of
		// date like one someone else changed.
		if tags[awsmodel.TagTemplateVersion] == strconv.FormatInt(aws.ToInt64(lt.LatestVersionNumber), 10) &&
			tags[awsmodel.TagKeyName] == p.model.KeyPair.Name {
			lc.ConfigVersion = tags[awsmodel.TagConfigVersion]
		}
		out = append(out, lc)
	}
	return out, nil
}

// EnsureLaunchConfig makes the group's launch template boot what lc says:
// it ensures the role's IAM profile, then creates the template or, when the
// config version changed, a new template version (the group uses $Latest,
// so machines launched from now on get it; running ones report the older
// version number and so need updating).
func (p *Provider) EnsureLaunchConfig(ctx context.Context, lc *cloud.LaunchConfig) error {
	if err := p.checkCluster(lc.Cluster); err != nil {
		return err
	}
	ud, err := nodeup.ParseUserData(lc.UserData)
	if err != nil {
		return fmt.Errorf("launch template of group %s: %w", lc.Group, err)
	}
	role, err := awsmodel.ParseRole(ud.Role)
	if err != nil {
		return fmt.Errorf("launch template of group %s: %w", lc.Group, err)
	}
	m := p.model.NewLaunchTemplate(lc.Group, role, lc.Image, lc.MachineType)
	m.KeyName = p.model.KeyPair.Name
	lts, err := p.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{m.Name}})
	if err != nil && !isNotFound(err) {
		return wrap(err, "describe launch template %s", m.Name)
	}
	var have *ec2types.LaunchTemplate
	if err == nil && len(lts.LaunchTemplates) == 1 {
		have = &lts.LaunchTemplates[0]
		tags := ec2TagMap(have.Tags)
		if tags[awsmodel.TagCluster] != p.name() {
			return fmt.Errorf("launch template %s exists but belongs to cluster %q", m.Name, tags[awsmodel.TagCluster])
		}
		if err := p.checkOwner("launch template "+m.Name, tags); err != nil {
			return err
		}
		if tags[awsmodel.TagConfigVersion] == lc.ConfigVersion && tags[awsmodel.TagImage] == lc.Image &&
			tags[awsmodel.TagMachineType] == lc.MachineType && tags[awsmodel.TagKeyName] == m.KeyName &&
			tags[awsmodel.TagTemplateVersion] == strconv.FormatInt(aws.ToInt64(have.LatestVersionNumber), 10) {
			if !p.unclaimed(tags) {
				return nil
			}
			_, err := p.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(have.LaunchTemplateId)}, Tags: ec2TagList(m.Tags)})
			return wrap(err, "claim launch template %s", m.Name)
		}
	}
	data, err := p.templateData(ctx, m, lc)
	if err != nil {
		return err
	}
	tags := func(version int64) map[string]string {
		t := map[string]string{awsmodel.TagConfigVersion: lc.ConfigVersion, awsmodel.TagImage: lc.Image,
			awsmodel.TagMachineType: lc.MachineType, awsmodel.TagTemplateVersion: strconv.FormatInt(version, 10),
			awsmodel.TagKeyName: m.KeyName}
		for k, v := range m.Tags {
			t[k] = v
		}
		return t
	}
	if have == nil {
		_, err := p.ec2.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String(m.Name),
			LaunchTemplateData: data, TagSpecifications: tagSpec(ec2types.ResourceTypeLaunchTemplate, tags(1))})
		return wrap(err, "create launch template %s", m.Name)
	}
	v, err := p.ec2.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: have.LaunchTemplateId,
		LaunchTemplateData: data, VersionDescription: aws.String("config " + lc.ConfigVersion)})
	if err != nil {
		return wrap(err, "create version of launch template %s", m.Name)
	}
	num := aws.ToInt64(v.LaunchTemplateVersion.VersionNumber)
	if _, err := p.ec2.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: have.LaunchTemplateId,
		DefaultVersion: aws.String(strconv.FormatInt(num, 10))}); err != nil {
		return wrap(err, "make version %d the default of launch template %s", num, m.Name)
	}
	_, err = p.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(have.LaunchTemplateId)}, Tags: ec2TagList(tags(num))})
	return wrap(err, "tag launch template %s with version %d", m.Name, num)
}

// templateData is the launch template: the AMI, machine type, user-data,
// IAM profile, security group, SSH key pair, IMDSv2 only and an encrypted
// gp3 root.
func (p *Provider) templateData(ctx context.Context, m awsmodel.LaunchTemplate, lc *cloud.LaunchConfig) (*ec2types.RequestLaunchTemplateData, error) {
	img, err := p.image(ctx, m.ImageName)
	if err != nil {
		return nil, fmt.Errorf("launch template %s: %w", m.Name, err)
	}
	// The role's instance profile and the key pair are resources of the
	// plan (PlanResources) that launch configs depend on, so they exist by
	// now; the profile has the role's name.
	r, ok := p.model.Role(m.Role)
	if !ok {
		return nil, fmt.Errorf("cluster %s has no IAM role for %s", p.name(), m.Role)
	}
	profile := r.Name
	sg, err := p.securityGroupID(ctx, m.SecurityGroup)
	if err != nil {
		return nil, err
	}
	root := img.rootDevice
	if root == "" {
		root = "/dev/xvda"
	}
	return &ec2types.RequestLaunchTemplateData{
		ImageId:            aws.String(img.id),
		InstanceType:       ec2types.InstanceType(m.InstanceType),
		UserData:           aws.String(base64.StdEncoding.EncodeToString(lc.UserData)),
		IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String(profile)},
		SecurityGroupIds:   []string{sg},
		KeyName:            optString(m.KeyName),
		MetadataOptions: &ec2types.LaunchTemplateInstanceMetadataOptionsRequest{
			HttpTokens:              ec2types.LaunchTemplateHttpTokensState(m.HTTPTokens),
			HttpPutResponseHopLimit: aws.Int32(m.HTTPHopLimit),
			HttpEndpoint:            ec2types.LaunchTemplateInstanceMetadataEndpointStateEnabled,
		},
		BlockDeviceMappings: []ec2types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String(root),
			Ebs: &ec2types.LaunchTemplateEbsBlockDeviceRequest{VolumeSize: aws.Int32(m.RootVolumeSize), VolumeType: ec2types.VolumeTypeGp3,
				Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}}},
		TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: ec2TagList(m.InstanceTags)},
			{ResourceType: ec2types.ResourceTypeVolume, Tags: ec2TagList(m.InstanceTags)},
		},
	}, nil
}

// DeleteLaunchConfig deletes the group's launch template, unless another
// identity owns it.
func (p *Provider) DeleteLaunchConfig(ctx context.Context, cluster, group string) error {
	if err := p.checkCluster(cluster); err != nil {
		return err
	}
	name := awsmodel.GroupResourceName(cluster, group)
	lts, err := p.ec2.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{name}})
	if isNotFound(err) || (err == nil && len(lts.LaunchTemplates) == 0) {
		return nil
	}
	if err != nil {
		return wrap(err, "describe launch template %s", name)
	}
	if err := p.checkOwner("launch template "+name, ec2TagMap(lts.LaunchTemplates[0].Tags)); err != nil {
		return err
	}
	_, err = p.ec2.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String(name)})
	if isNotFound(err) {
		return nil
	}
	return wrap(err, "delete launch template %s", name)
}
