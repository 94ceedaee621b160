package awsmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/url"
	"regexp"
	"strings"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Tag keys hull writes on what it creates. TagCluster is the one every
// describe filters on, so a cluster's resources are found in one call per
// resource kind however many groups it has.
const (
	TagName          = "Name"
	TagCluster       = "hull.dev/cluster"
	TagInstanceGroup = "hull.dev/instance-group"
	TagRole          = "hull.dev/role"
	// TagResource is the logical name of a network resource ("sg/nodes",
	// "rtb/public", "nat/us-east-1a", "subnet/us-east-1a"), so Find maps
	// what it describes back to the model without parsing Name tags.
	TagResource = "hull.dev/resource"
	// TagSubnetType is Public, Private or Utility.
	TagSubnetType = "hull.dev/subnet-type"
	// Launch template tags: the cloudup config version (a hash), the image
	// name and machine type it was made from, and the template version
	// number they describe; a later version made by someone else shows as
	// drift.
	TagConfigVersion   = "hull.dev/config-version"
	TagImage           = "hull.dev/image"
	TagMachineType     = "hull.dev/machine-type"
	TagTemplateVersion = "hull.dev/launch-template-version"
	// TagKeyName is the SSH key pair a launch template names ("" none).
	TagKeyName = "hull.dev/key-name"
	// TagClusterID is the identity of the cluster that owns the resource
	// (cloud.Owner.ID, kept in its state store): two stores' clusters of
	// one name share TagCluster, never this. TagStateStore names that
	// store, for the error that refuses another store's caller.
	TagClusterID  = "hull.dev/cluster-id"
	TagStateStore = "hull.dev/state-store"
)

// KubernetesClusterTag is the tag the Kubernetes AWS cloud provider uses to
// tell a cluster's resources; its value is "owned".
func KubernetesClusterTag(cluster string) string { return "kubernetes.io/cluster/" + cluster }

// ClusterTags are on every resource hull creates for cluster: its name
// and, when the owner has one, the owner's identity (OwnerTags).
func ClusterTags(cluster string, owner cloud.Owner) map[string]string {
	tags := map[string]string{TagCluster: cluster, KubernetesClusterTag(cluster): "owned"}
	maps.Copy(tags, OwnerTags(owner))
	return tags
}

// OwnerTags mark a resource as the owner's: its identity, and its state
// store when the URL makes a valid tag value; none without an identity.
func OwnerTags(owner cloud.Owner) map[string]string {
	if owner.ID == "" {
		return map[string]string{}
	}
	tags := map[string]string{TagClusterID: owner.ID}
	if v := StoreTagValue(owner.Store); v != "" {
		tags[TagStateStore] = v
	}
	return tags
}

// tagValue is what IAM and Elastic Load Balancing accept in a tag value
// (EC2 and Auto Scaling accept more), at most 256 characters.
var tagValue = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,256}$`)

// StoreTagValue is a state store URL as a tag value: without user
// information, query or fragment (they may hold credentials or local
// options), "" when what is left is no valid tag value. The tag only
// helps a person find the owner, so leaving it out is better than
// writing a truncated URL that names another store.
func StoreTagValue(storeURL string) string {
	u, err := url.Parse(storeURL)
	if err != nil || u.Scheme == "" {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	v := u.String()
	if !tagValue.MatchString(v) {
		return ""
	}
	return v
}

// withTags returns base plus extra (extra wins).
func withTags(base map[string]string, kv ...string) map[string]string {
	out := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Security group keys: one per role, and one for the API load balancer.
const (
	SGControlPlane = "control-plane"
	SGNodes        = "nodes"
	SGBastion      = "bastion"
	SGAPILB        = "api-lb"
)

// RoleKey is the short name of a role in resource names: the security group
// key and the IAM role prefix.
func RoleKey(role v1alpha1.InstanceGroupRole) string {
	switch role {
	case v1alpha1.RoleControlPlane:
		return SGControlPlane
	case v1alpha1.RoleBastion:
		return SGBastion
	}
	return SGNodes
}

// IAMName is the name of the IAM role and instance profile of a role:
// "nodes.<cluster>", at most 64 characters.
func IAMName(cluster string, role v1alpha1.InstanceGroupRole) string {
	return limit(RoleKey(role)+"."+cluster, 64)
}

// GroupResourceName names a group's launch template and autoscaling group:
// "<group>.<cluster>", as kops does (at most 128 characters, the launch
// template limit).
func GroupResourceName(cluster, group string) string {
	return limit(group+"."+cluster, 128)
}

// LoadBalancerName names the API NLB and its target group: at most 32
// characters of letters, digits and hyphens, not starting or ending with a
// hyphen and never starting with "internal-".
func LoadBalancerName(cluster string) string {
	var b strings.Builder
	b.WriteString("api-")
	for _, r := range strings.ToLower(cluster) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 32 {
		sum := sha256.Sum256([]byte(cluster))
		name = strings.TrimRight(name[:24], "-") + "-" + hex.EncodeToString(sum[:])[:7]
	}
	return name
}

// limit keeps a name within n characters, replacing the tail with a hash of
// the whole so distinct long names stay distinct.
func limit(name string, n int) string {
	if len(name) <= n {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:n-9] + "-" + hex.EncodeToString(sum[:])[:8]
}
