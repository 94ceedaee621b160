package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/cloud"
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

// iamResources are a role's IAM role, its inline policy and its instance
// profile (of the role's name), each a resource of the plan.
func (p *Provider) iamResources(r awsmodel.IAMRole) []cloud.Resource {
	roleKey := kindIAMRole + "/" + r.Name
	needed := []string{neededByLaunchConfig}
	return []cloud.Resource{{
		Kind: kindIAMRole, Name: r.Name,
		Fields:   map[string]string{"trustPolicy": policyDigest(r.AssumeRolePolicy)},
		NeededBy: needed,
		Find: func(ctx context.Context) (map[string]string, error) {
			role, err := p.getRole(ctx, r.Name)
			if err != nil || role == nil {
				return nil, err
			}
			return map[string]string{"trustPolicy": encodedPolicyDigest(aws.ToString(role.AssumeRolePolicyDocument))}, nil
		},
		Apply: func(ctx context.Context) error { return p.ensureRole(ctx, r) },
	}, {
		Kind: kindIAMRolePolicy, Name: r.Name,
		Fields:   map[string]string{"name": r.PolicyName, "policy": policyDigest(r.Policy)},
		After:    []string{roleKey},
		NeededBy: needed,
		Find: func(ctx context.Context) (map[string]string, error) {
			if role, err := p.getRole(ctx, r.Name); err != nil || role == nil {
				return nil, err
			}
			doc, err := cloud.PlanRead(ctx, "aws/iam/policy/"+r.Name, func(ctx context.Context) (*string, error) {
				out, err := p.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(r.Name), PolicyName: aws.String(r.PolicyName)})
				if hasCode(err, "NoSuchEntity") {
					return nil, nil
				}
				if err != nil {
					return nil, wrap(err, "get policy %s of IAM role %s", r.PolicyName, r.Name)
				}
				return out.PolicyDocument, nil
			})
			if err != nil || doc == nil {
				return nil, err
			}
			return map[string]string{"name": r.PolicyName, "policy": encodedPolicyDigest(aws.ToString(doc))}, nil
		},
		Apply: func(ctx context.Context) error {
			// The role's owner is the policy's: refuse another identity's.
			role, err := p.readRole(ctx, r.Name)
			if err != nil {
				return err
			}
			if role == nil {
				return wrap(errMissing, "IAM role %s of policy %s", r.Name, r.PolicyName)
			}
			_, err = p.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(r.Name),
				PolicyName: aws.String(r.PolicyName), PolicyDocument: aws.String(r.Policy)})
			return wrap(err, "put policy %s of IAM role %s", r.PolicyName, r.Name)
		},
	}, {
		Kind: kindIAMInstanceProfile, Name: r.Name,
		Fields:   map[string]string{"role": roleKey},
		After:    []string{roleKey},
		NeededBy: needed,
		Find: func(ctx context.Context) (map[string]string, error) {
			ip, err := p.getInstanceProfile(ctx, r.Name)
			if err != nil || ip == nil {
				return nil, err
			}
			var roles []string
			for _, role := range ip.Roles {
				roles = append(roles, kindIAMRole+"/"+aws.ToString(role.RoleName))
			}
			return map[string]string{"role": strings.Join(roles, ",")}, nil
		},
		Apply: func(ctx context.Context) error { return p.ensureInstanceProfile(ctx, r) },
	}}
}

// policyDigest names a policy document as hull writes it by its meaning.
func policyDigest(doc string) string {
	if c, err := canonicalJSON(doc); err == nil {
		doc = c
	}
	return digest(doc)
}

// encodedPolicyDigest is policyDigest of a document as IAM returns it
// (percent-encoded), so equal policies have equal digests.
func encodedPolicyDigest(encoded string) string {
	if doc, err := url.QueryUnescape(encoded); err == nil {
		encoded = doc
	}
	return policyDigest(encoded)
}

// getRole reads an IAM role once per plan (readRole); finds share it, and
// applies, which change roles, read for themselves.
func (p *Provider) getRole(ctx context.Context, name string) (*iamtypes.Role, error) {
	return cloud.PlanRead(ctx, "aws/iam/role/"+name, func(ctx context.Context) (*iamtypes.Role, error) { return p.readRole(ctx, name) })
}

// readRole reads an IAM role; nil when absent. A role of the name that
// another cluster or identity owns is refused.
func (p *Provider) readRole(ctx context.Context, name string) (*iamtypes.Role, error) {
	got, err := p.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if hasCode(err, "NoSuchEntity") {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "get IAM role %s", name)
	}
	tags := iamTagMap(got.Role.Tags)
	if owner := tags[awsmodel.TagCluster]; owner != p.name() {
		return nil, fmt.Errorf("IAM role %s exists but belongs to cluster %q, not %s", name, owner, p.name())
	}
	if err := p.checkOwner("IAM role "+name, tags); err != nil {
		return nil, err
	}
	return got.Role, nil
}

// getInstanceProfile reads an instance profile once per plan
// (readInstanceProfile).
func (p *Provider) getInstanceProfile(ctx context.Context, name string) (*iamtypes.InstanceProfile, error) {
	return cloud.PlanRead(ctx, "aws/iam/profile/"+name, func(ctx context.Context) (*iamtypes.InstanceProfile, error) {
		return p.readInstanceProfile(ctx, name)
	})
}

// readInstanceProfile reads an instance profile; nil when absent. One
// another identity owns is refused.
func (p *Provider) readInstanceProfile(ctx context.Context, name string) (*iamtypes.InstanceProfile, error) {
	got, err := p.iam.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if hasCode(err, "NoSuchEntity") {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "get instance profile %s", name)
	}
	if err := p.checkOwner("instance profile "+name, iamTagMap(got.InstanceProfile.Tags)); err != nil {
		return nil, err
	}
	return got.InstanceProfile, nil
}

// ensureRole makes the IAM role of a group role exist with the model's
// trust policy, claimed for the cluster's identity.
func (p *Provider) ensureRole(ctx context.Context, r awsmodel.IAMRole) error {
	got, err := p.readRole(ctx, r.Name)
	if err != nil {
		return err
	}
	if got == nil {
		_, err := p.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r.Name),
			AssumeRolePolicyDocument: aws.String(r.AssumeRolePolicy), Tags: iamTags(r.Tags),
			Description: aws.String("hull " + string(r.Role) + " machines of " + p.name())})
		return wrap(err, "create IAM role %s", r.Name)
	}
	if p.unclaimed(iamTagMap(got.Tags)) {
		if _, err := p.iam.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String(r.Name), Tags: iamTags(r.Tags)}); err != nil {
			return wrap(err, "claim IAM role %s", r.Name)
		}
	}
	if samePolicy(aws.ToString(got.AssumeRolePolicyDocument), r.AssumeRolePolicy) {
		return nil
	}
	_, err = p.iam.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(r.Name),
		PolicyDocument: aws.String(r.AssumeRolePolicy)})
	return wrap(err, "update trust policy of IAM role %s", r.Name)
}

func (p *Provider) ensureInstanceProfile(ctx context.Context, r awsmodel.IAMRole) error {
	got, err := p.readInstanceProfile(ctx, r.Name)
	if err != nil {
		return err
	}
	var roles []string
	if got == nil {
		if _, err := p.iam.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(r.Name),
			Tags: iamTags(r.Tags)}); err != nil {
			return wrap(err, "create instance profile %s", r.Name)
		}
	} else {
		for _, role := range got.Roles {
			roles = append(roles, aws.ToString(role.RoleName))
		}
	}
	if slices.Equal(roles, []string{r.Name}) {
		return nil
	}
	for _, other := range roles {
		if other == r.Name {
			continue
		}
		if _, err := p.iam.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{
			InstanceProfileName: aws.String(r.Name), RoleName: aws.String(other)}); err != nil {
			return wrap(err, "remove role %s from instance profile %s", other, r.Name)
		}
	}
	if slices.Contains(roles, r.Name) {
		return nil
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
