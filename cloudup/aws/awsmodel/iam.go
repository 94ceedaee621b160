package awsmodel

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// IAMRole is a role, its instance profile (same name) and its one inline
// policy.
type IAMRole struct {
	Role       v1alpha1.InstanceGroupRole
	Name       string
	PolicyName string
	// AssumeRolePolicy and Policy are JSON documents.
	AssumeRolePolicy string
	Policy           string
	Tags             map[string]string
}

// PolicyDocument is an IAM policy document; the field order is the order
// AWS shows, so the JSON is stable.
type PolicyDocument struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one policy statement.
type Statement struct {
	Sid       string            `json:"Sid,omitempty"`
	Effect    string            `json:"Effect"`
	Principal map[string]string `json:"Principal,omitempty"`
	Action    []string          `json:"Action"`
	Resource  []string          `json:"Resource,omitempty"`
	Condition map[string]any    `json:"Condition,omitempty"`
}

func iamRoles(c *v1alpha1.Cluster, tags map[string]string) ([]IAMRole, error) {
	roles := []v1alpha1.InstanceGroupRole{v1alpha1.RoleControlPlane, v1alpha1.RoleNode}
	if c.Spec.Bastion != nil {
		roles = append(roles, v1alpha1.RoleBastion)
	}
	assume, err := json.Marshal(PolicyDocument{Version: "2012-10-17", Statement: []Statement{{
		Effect: "Allow", Principal: map[string]string{"Service": "ec2.amazonaws.com"}, Action: []string{"sts:AssumeRole"},
	}}})
	if err != nil {
		return nil, fmt.Errorf("assume role policy: %w", err)
	}
	var out []IAMRole
	for _, r := range roles {
		doc, err := json.Marshal(rolePolicy(c, r))
		if err != nil {
			return nil, fmt.Errorf("policy of %s: %w", r, err)
		}
		name := IAMName(c.Metadata.Name, r)
		out = append(out, IAMRole{
			Role: r, Name: name, PolicyName: "hull-" + RoleKey(r),
			AssumeRolePolicy: string(assume), Policy: string(doc),
			Tags: withTags(tags, TagRole, string(r)),
		})
	}
	return out, nil
}

// rolePolicy is the least a machine of the role needs. Every machine reads
// its nodeup config; workers read the issued CA certificates and the
// bootstrap token; the control plane reads the private keysets and secrets,
// keeps the etcd member registry and backups, attaches its etcd volumes,
// registers with the API load balancer, and routes the pod CIDRs in the
// cluster's route tables (nodeup/awsroutes), turning the source/destination
// check of the cluster's machines off. A bastion needs only its config.
func rolePolicy(c *v1alpha1.Cluster, role v1alpha1.InstanceGroupRole) PolicyDocument {
	doc := PolicyDocument{Version: "2012-10-17"}
	bucket, base, ok := S3Location(c.Spec.ConfigBase)
	obj := func(p string) string { return "arn:aws:s3:::" + path.Join(bucket, base, p) }
	var read, write []string
	switch role {
	case v1alpha1.RoleControlPlane:
		read = []string{obj("*")}
		write = []string{obj("etcd/*"), obj("backups/etcd/*"), obj("secrets/bootstrap-token")}
	case v1alpha1.RoleNode:
		read = []string{obj("nodeup/*"), obj("pki/issued/*"), obj("secrets/bootstrap-token"), obj("cluster-completed.spec")}
	default:
		read = []string{obj("nodeup/*")}
	}
	if ok {
		doc.Statement = append(doc.Statement,
			Statement{Sid: "StateStoreList", Effect: "Allow", Action: []string{"s3:GetBucketLocation", "s3:ListBucket"},
				Resource:  []string{"arn:aws:s3:::" + bucket},
				Condition: map[string]any{"StringLike": map[string][]string{"s3:prefix": {path.Join(base, "*")}}}},
			Statement{Sid: "StateStoreRead", Effect: "Allow", Action: []string{"s3:GetObject"}, Resource: read})
		if len(write) > 0 {
			doc.Statement = append(doc.Statement, Statement{Sid: "StateStoreWrite", Effect: "Allow",
				Action: []string{"s3:DeleteObject", "s3:PutObject"}, Resource: write})
		}
	}
	clusterTag := map[string]any{"StringEquals": map[string]string{"aws:ResourceTag/" + TagCluster: c.Metadata.Name}}
	switch role {
	case v1alpha1.RoleControlPlane:
		doc.Statement = append(doc.Statement,
			Statement{Sid: "Describe", Effect: "Allow", Resource: []string{"*"}, Action: []string{
				"autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances", "ec2:DescribeRouteTables", "ec2:DescribeVolumes",
				"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"}},
			Statement{Sid: "PodRoutes", Effect: "Allow", Resource: []string{"*"}, Condition: clusterTag,
				Action: []string{"ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ModifyInstanceAttribute", "ec2:ReplaceRoute"}},
			Statement{Sid: "EtcdVolumes", Effect: "Allow", Resource: []string{"*"}, Condition: clusterTag,
				Action: []string{"ec2:AttachVolume", "ec2:DetachVolume"}},
			Statement{Sid: "APILoadBalancer", Effect: "Allow", Resource: []string{"*"}, Condition: clusterTag,
				Action: []string{"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:RegisterTargets"}})
	case v1alpha1.RoleNode:
		doc.Statement = append(doc.Statement, Statement{Sid: "Describe", Effect: "Allow", Resource: []string{"*"},
			Action: []string{"ec2:DescribeInstances", "ec2:DescribeRegions"}})
	}
	if len(doc.Statement) == 0 {
		// IAM refuses an empty policy; a bastion on a non-S3 store needs nothing.
		doc.Statement = []Statement{{Sid: "Nothing", Effect: "Deny", Action: []string{"*"}, Resource: []string{"*"}}}
	}
	return doc
}

// S3Location splits an s3:// config base into bucket and key prefix; ok is
// false for any other store, whose access IAM cannot grant.
func S3Location(configBase string) (bucket, prefix string, ok bool) {
	u, err := url.Parse(configBase)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", false
	}
	return u.Host, strings.Trim(u.Path, "/"), true
}
