package validation

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

var (
	roles        = []v1alpha1.InstanceGroupRole{v1alpha1.RoleControlPlane, v1alpha1.RoleNode, v1alpha1.RoleBastion}
	taintEffects = []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}
)

// ValidateInstanceGroup validates one group in the context of its cluster (used by `hull edit instancegroup`, `create -f` of one IG).
func ValidateInstanceGroup(ig *v1alpha1.InstanceGroup, c *v1alpha1.Cluster) field.ErrorList {
	if ig == nil {
		return field.ErrorList{field.Required(groupsPath, "instance group document is empty")}
	}
	path := groupPath(ig.Metadata.Name, -1)
	errs := validateGroup(ig, c, path)
	if c != nil {
		errs = append(errs, validateGroupEtcdRole(ig, c, path)...)
	}
	return errs
}

// validateGroupEtcdRole is etcd membership seen from one group, for when the
// other groups are not at hand: a ControlPlane group must run a member of
// every etcd cluster, and a group that etcd members name must stay ControlPlane.
func validateGroupEtcdRole(ig *v1alpha1.InstanceGroup, c *v1alpha1.Cluster, path *field.Path) field.ErrorList {
	name := ig.Metadata.Name
	if name == "" {
		return nil
	}
	if ig.Spec.Role == v1alpha1.RoleControlPlane {
		return missingEtcdMembers(c, name)
	}
	for i, ec := range c.Spec.EtcdClusters {
		if j := etcdMemberOn(ec, name); j >= 0 {
			return field.ErrorList{field.Invalid(path.Child("spec", "role"), ig.Spec.Role,
				fmt.Sprintf("etcd member spec.etcdClusters[%d].members[%d] runs on this group, so its role must be ControlPlane", i, j))}
		}
	}
	return nil
}

// validateGroup checks one group and its relation to the cluster; c may be
// nil, in which case only the group's own fields are checked.
func validateGroup(ig *v1alpha1.InstanceGroup, c *v1alpha1.Cluster, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	mp := path.Child("metadata")
	name := ig.Metadata.Name
	if name == "" {
		errs = append(errs, field.Required(mp.Child("name"), ""))
	} else if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		// Group names become parts of machine host names and cloud resource names.
		errs = append(errs, field.Invalid(mp.Child("name"), name, strings.Join(msgs, "; ")))
	}
	errs = append(errs, validateMetadata(&ig.Metadata, mp)...)
	if c != nil && c.Metadata.Name != "" {
		lp := mp.Child("labels").Key(v1alpha1.LabelCluster)
		switch got, ok := ig.Metadata.Labels[v1alpha1.LabelCluster]; {
		case !ok || got == "":
			errs = append(errs, field.Required(lp, "must name the cluster "+c.Metadata.Name))
		case got != c.Metadata.Name:
			errs = append(errs, field.Invalid(lp, got, "must equal the cluster name "+c.Metadata.Name))
		}
	}

	sp := path.Child("spec")
	s := &ig.Spec
	switch {
	case s.Role == "":
		errs = append(errs, field.Required(sp.Child("role"), "ControlPlane, Node or Bastion"))
	case !slices.Contains(roles, s.Role):
		errs = append(errs, field.NotSupported(sp.Child("role"), s.Role, roles))
	}
	errs = append(errs, validateSizes(s, sp)...)
	errs = append(errs, validateGroupSubnets(s, c, sp)...)
	errs = append(errs, validateNodeLabels(s.NodeLabels, sp.Child("nodeLabels"))...)
	errs = append(errs, validateTaints(s.Taints, sp.Child("taints"))...)
	errs = append(errs, validateRollingUpdate(s.RollingUpdate, sp.Child("rollingUpdate"))...)
	if s.Role == v1alpha1.RoleControlPlane {
		errs = append(errs, validateControlPlaneRollingUpdate(s.RollingUpdate, sp.Child("rollingUpdate"))...)
	}
	return errs
}

// validateSizes checks the bounds. A ControlPlane group holds exactly one
// machine: each group hosts one etcd member, as in kops, so the member's
// identity and volume follow the group. Other groups may be empty (0), and
// hold at most MaxInstanceGroupSize.
func validateSizes(s *v1alpha1.InstanceGroupSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(name string, v *int32) bool {
		if v == nil {
			return false
		}
		if *v < 0 {
			errs = append(errs, field.Invalid(sp.Child(name), *v, "must not be negative"))
			return false
		}
		if s.Role == v1alpha1.RoleControlPlane && *v != 1 {
			errs = append(errs, field.Invalid(sp.Child(name), *v, "must be 1: a control-plane group runs one machine per etcd member"))
			return false
		}
		if *v > MaxInstanceGroupSize {
			errs = append(errs, field.Invalid(sp.Child(name), *v, fmt.Sprintf("must be at most %d: %s", MaxInstanceGroupSize, MaxInstanceGroupSizeReason)))
			return false
		}
		return true
	}
	minOK, maxOK := check("minSize", s.MinSize), check("maxSize", s.MaxSize)
	if minOK && maxOK && *s.MaxSize < *s.MinSize {
		errs = append(errs, field.Invalid(sp.Child("maxSize"), *s.MaxSize, fmt.Sprintf("must be at least minSize (%d)", *s.MinSize)))
	}
	return errs
}

// validateGroupSubnets checks that the subnets exist and suit the role in the
// cluster's topology: bastions are the only way in to a private topology and
// live in its Utility subnets; Kubernetes machines live in the subnet type
// the topology is named after.
func validateGroupSubnets(s *v1alpha1.InstanceGroupSpec, c *v1alpha1.Cluster, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	topology := ""
	if c != nil {
		topology = c.Spec.Networking.Topology
	}
	if s.Role == v1alpha1.RoleBastion && c != nil && topology != v1alpha1.TopologyPrivate {
		errs = append(errs, field.Forbidden(sp.Child("role"), "bastion groups need topology: private; in a public topology machines are reached directly"))
	}
	p := sp.Child("subnets")
	if len(s.Subnets) == 0 {
		return append(errs, field.Required(p, "name at least one subnet of the cluster"))
	}
	if c == nil {
		return errs
	}
	var want v1alpha1.SubnetType
	switch {
	case s.Role == v1alpha1.RoleBastion && topology == v1alpha1.TopologyPrivate:
		want = v1alpha1.SubnetUtility
	case s.Role == v1alpha1.RoleNode || s.Role == v1alpha1.RoleControlPlane:
		switch topology {
		case v1alpha1.TopologyPrivate:
			want = v1alpha1.SubnetPrivate
		case v1alpha1.TopologyPublic:
			want = v1alpha1.SubnetPublic
		}
	}
	byName := map[string]v1alpha1.SubnetSpec{}
	var known []string
	for _, sub := range c.Spec.Networking.Subnets {
		if _, dup := byName[sub.Name]; !dup && sub.Name != "" {
			byName[sub.Name] = sub
			known = append(known, sub.Name)
		}
	}
	seen := map[string]bool{}
	for k, name := range s.Subnets {
		kp := p.Index(k)
		sub, ok := byName[name]
		switch {
		case name == "":
			errs = append(errs, field.Required(kp, "name a subnet of the cluster"))
		case seen[name]:
			errs = append(errs, field.Duplicate(kp, name))
		case !ok:
			errs = append(errs, field.NotSupported(kp, name, known))
		// A missing or unknown subnet type is reported on the subnet itself.
		case want != "" && slices.Contains(subnetTypes, sub.Type) && sub.Type != want:
			errs = append(errs, field.Invalid(kp, name, fmt.Sprintf("is a %s subnet; %s groups in topology %s go in %s subnets",
				sub.Type, s.Role, topology, want)))
		}
		seen[name] = true
	}
	return errs
}

// validateNodeLabels checks the labels the kubelet registers the node with,
// written out as k=v,k=v in one argument.
func validateNodeLabels(labels map[string]string, path *field.Path) field.ErrorList {
	return validateLabelMap(labels, path, MaxKubeletListBytes, kubeletListWhy("labels", "--node-labels"), "")
}

func kubeletListWhy(what, flag string) string {
	return fmt.Sprintf("the kubelet gets the %s in one %s argument, which Linux caps at 128 KiB, and hull adds its own", what, flag)
}

// validateTaints checks kubectl-style taints, key[=value]:Effect, because
// the kubelet registers with them and refuses to start on a bad one.
func validateTaints(taints []string, path *field.Path) field.ErrorList {
	if size := listBytes(taints, 1); size > MaxKubeletListBytes {
		return field.ErrorList{sizeError(path, size, MaxKubeletListBytes, kubeletListWhy("taints", "--register-with-taints"))}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range taints {
		p := path.Index(i)
		sep := strings.LastIndex(t, ":")
		if sep < 0 {
			errs = append(errs, field.Invalid(p, t, "must be key[=value]:Effect, e.g. dedicated=gpu:NoSchedule"))
			continue
		}
		kv, effect := t[:sep], t[sep+1:]
		if !slices.Contains(taintEffects, effect) {
			errs = append(errs, field.NotSupported(p, effect, taintEffects))
		}
		key, value, _ := strings.Cut(kv, "=")
		if msgs := content.IsLabelKey(key); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, t, "key "+strings.Join(msgs, "; ")))
		}
		if msgs := content.IsLabelValue(value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, t, "value "+strings.Join(msgs, "; ")))
		}
		// Kubernetes keeps one taint per key and effect.
		if id := key + ":" + effect; seen[id] {
			errs = append(errs, field.Duplicate(p, t))
		} else {
			seen[id] = true
		}
	}
	return errs
}
