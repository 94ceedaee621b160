package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

func iamTags(tags map[string]string) []iamtypes.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []iamtypes.Tag
	for _, k := range keys {
		out = append(out, iamtypes.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func iamTagMap(tags []iamtypes.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// samePolicy compares an IAM policy document as IAM returns it
// (percent-encoded) with one as hull writes it, by meaning.
func samePolicy(encoded, want string) bool {
	doc, err := url.QueryUnescape(encoded)
	if err != nil {
		return false
	}
	a, errA := canonicalJSON(doc)
	b, errB := canonicalJSON(want)
	return errA == nil && errB == nil && a == b
}

// canonicalJSON re-encodes a JSON document with sorted keys and no spaces.
func canonicalJSON(doc string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func (p *Provider) roleLock(name string) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.iamLocks[name] == nil {
		p.iamLocks[name] = &sync.Mutex{}
	}
	return p.iamLocks[name]
}

// ensureRole makes the IAM role of a group role, its inline policy and its
// instance profile match the model, once per provider: every group of the
// role shares them.
func (p *Provider) ensureRole(ctx context.Context, role v1alpha1.InstanceGroupRole) (string, error) {
	r, ok := p.model.Role(role)
	if !ok {
		return "", fmt.Errorf("cluster %s has no IAM role for %s", p.name(), role)
	}
	mu := p.roleLock(r.Name)
	mu.Lock()
	defer mu.Unlock()
	p.mu.Lock()
	done := p.iamReady[r.Name]
	p.mu.Unlock()
	if done {
		return r.Name, nil
	}
	got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
	switch {
	case hasCode(err, "NoSuchEntity"):
		if _, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r.Name),
			AssumeRolePolicyDocument: aws.String(r.AssumeRolePolicy), Tags: iamTags(r.Tags),
			Description: aws.String("hull " + string(role) + " machines of " + p.name())}); err != nil {
			return "", wrap(err, "create IAM role %s", r.Name)
		}
	case err != nil:
		return "", wrap(err, "get IAM role %s", r.Name)
	default:
		tags := iamTagMap(got.Role.Tags)
		if owner := tags[awsmodel.TagCluster]; owner != p.name() {
			return "", fmt.Errorf("IAM role %s exists but belongs to cluster %q, not %s", r.Name, owner, p.name())
		}
		if err := p.checkOwner("IAM role "+r.Name, tags); err != nil {
			return "", err
		}
		if p.unclaimed(tags) {
			if _, err := p.iam.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(r.Name), Tags: iamTags(r.Tags)}); err != nil {
				return "", wrap(err, "claim IAM role %s", r.Name)
			}
		}
		if !samePolicy(aws.ToString(got.Role.AssumeRolePolicyDocument), r.AssumeRolePolicy) {
			if _, err := p.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(r.Name),
				PolicyDocument: aws.String(r.AssumeRolePolicy)}); err != nil {
				return "", wrap(err, "update trust policy of IAM role %s", r.Name)
			}
		}
	}
	pol, err := p.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(r.PolicyName)})
	if err != nil && !hasCode(err, "NoSuchEntity") {
		return "", wrap(err, "get policy %s of IAM role %s", r.PolicyName, r.Name)
	}
	if err != nil || !samePolicy(aws.ToString(pol.PolicyDocument), r.Policy) {
		if _, err := p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(r.Name),
			PolicyName: aws.String(r.PolicyName), PolicyDocument: aws.String(r.Policy)}); err != nil {
			return "", wrap(err, "put policy %s of IAM role %s", r.PolicyName, r.Name)
		}
	}
	if err := p.ensureInstanceProfile(ctx, r); err != nil {
		return "", err
	}
	p.mu.Lock()
	p.iamReady[r.Name] = true
	p.mu.Unlock()
	return r.Name, nil
}

func (p *Provider) ensureInstanceProfile(ctx context.Context, r awsmodel.IAMRole) error {
	var roles []string
	got, err := p.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(r.Name)})
	switch {
	case hasCode(err, "NoSuchEntity"):
		if _, err := p.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(r.Name),
			Tags: iamTags(r.Tags)}); err != nil {
			return wrap(err, "create instance profile %s", r.Name)
		}
	case err != nil:
		return wrap(err, "get instance profile %s", r.Name)
	default:
		if err := p.checkOwner("instance profile "+r.Name, iamTagMap(got.InstanceProfile.Tags)); err != nil {
			return err
		}
		for _, role := range got.InstanceProfile.Roles {
			roles = append(roles, aws.ToString(role.RoleName))
		}
	}
	if slices.Contains(roles, r.Name) {
		return nil
	}
	for _, other := range roles {
		if _, err := p.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{
			InstanceProfileName: aws.String(r.Name), RoleName: aws.String(other)}); err != nil {
			return wrap(err, "remove role %s from instance profile %s", other, r.Name)
		}
	}
	_, err = p.iam.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(r.Name),
		RoleName: aws.String(r.Name)})
	return wrap(err, "add role %s to instance profile %s", r.Name, r.Name)
}

// deleteRoles removes the cluster's roles, their policies and instance
// profiles; a role tagged for another cluster is left alone.
func (p *Provider) deleteRoles(ctx context.Context, d *deleter) {
	for _, role := range allRoles {
		r := awsmodel.IAMRole{Name: awsmodel.IAMName(p.name(), role)}
		got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(r.Name)})
		roleExists := err == nil
		if err != nil && !hasCode(err, "NoSuchEntity") {
			d.fail("IAM role "+r.Name, err)
			continue
		}
		if roleExists && iamTagMap(got.Role.Tags)[awsmodel.TagCluster] != p.name() {
			d.fail("IAM role "+r.Name, fmt.Errorf("not tagged for cluster %s; left alone", p.name()))
			continue
		}
		if roleExists {
			if err := p.checkOwner("IAM role "+r.Name, iamTagMap(got.Role.Tags)); err != nil {
				d.fail("IAM role "+r.Name, err)
				continue
			}
		} else if err := p.checkProfileOwner(ctx, r.Name); err != nil {
			// The profile of a role that is gone vouches for itself.
			d.fail("instance profile "+r.Name, err)
			continue
		}
		d.do(ctx, "instance profile "+r.Name, func() error {
			_, err := p.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{
				InstanceProfileName: aws.String(r.Name), RoleName: aws.String(r.Name)})
			if err != nil && !isNotFound(err) {
				return err
			}
			_, err = p.iam.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: aws.String(r.Name)})
			return err
		})
		if !roleExists {
			continue
		}
		d.do(ctx, "IAM role "+r.Name, func() error {
			// Managed policies someone attached go with the role.
			attached, err := p.iam.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(r.Name)})
			if err != nil {
				return err
			}
			for _, ap := range attached.AttachedPolicies {
				if _, err := p.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(r.Name),
					PolicyArn: ap.PolicyArn}); err != nil && !isNotFound(err) {
					return err
				}
			}
			pols, err := p.iam.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(r.Name)})
			if err != nil {
				return err
			}
			for _, name := range pols.PolicyNames {
				if _, err := p.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(r.Name),
					PolicyName: aws.String(name)}); err != nil && !isNotFound(err) {
					return err
				}
			}
			_, err = p.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(r.Name)})
			return err
		})
	}
}

// checkProfileOwner refuses an instance profile another identity owns.
func (p *Provider) checkProfileOwner(ctx context.Context, name string) error {
	ip, err := p.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if hasCode(err, "NoSuchEntity") {
		return nil
	}
	if err != nil {
		return wrap(err, "get instance profile %s", name)
	}
	return p.checkOwner("instance profile "+name, iamTagMap(ip.InstanceProfile.Tags))
}
