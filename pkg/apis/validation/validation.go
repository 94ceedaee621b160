package validation

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

var (
	metadataPath = field.NewPath("metadata")
	specPath     = field.NewPath("spec")
	groupsPath   = field.NewPath("instanceGroups")

	topologies = []string{v1alpha1.TopologyPublic, v1alpha1.TopologyPrivate}
	lbTypes    = []v1alpha1.LoadBalancerType{v1alpha1.LoadBalancerPublic, v1alpha1.LoadBalancerInternal}

	// channelName is a channel shipped with hull (stable, alpha, ...).
	channelName = regexp.MustCompile(`^[a-z0-9-]+$`)
)

// ValidateCluster validates a Cluster together with all its InstanceGroups and returns every error at once.
func ValidateCluster(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) field.ErrorList {
	if c == nil {
		return field.ErrorList{field.Required(field.NewPath("cluster"), "a Cluster is needed to validate instance groups against")}
	}
	errs := validateClusterObject(c)

	// Groups are checked one by one, then as a set: uniqueness, the roles a
	// cluster needs, and etcd membership can only be judged across all of them.
	byName := map[string]*v1alpha1.InstanceGroup{}
	var valid []*v1alpha1.InstanceGroup
	for i, ig := range igs {
		if ig == nil {
			errs = append(errs, field.Required(groupsPath.Index(i), "instance group document is empty"))
			continue
		}
		path := groupPath(ig.Metadata.Name, i)
		if name := ig.Metadata.Name; name != "" {
			if _, dup := byName[name]; dup {
				errs = append(errs, field.Duplicate(path.Child("metadata", "name"), name))
			} else {
				byName[name] = ig
			}
		}
		errs = append(errs, validateGroup(ig, c, path)...)
		valid = append(valid, ig)
	}
	errs = append(errs, validateGroupSet(c, valid)...)
	errs = append(errs, validateEtcdMembership(c, byName)...)
	return errs
}

// groupPath roots an instance group's errors at instanceGroups[<name>], which
// survives reordering of documents; a nameless group falls back to its index.
func groupPath(name string, index int) *field.Path {
	if name == "" && index >= 0 {
		return groupsPath.Index(index)
	}
	return groupsPath.Key(name)
}

// validateGroupSet checks what only the whole set of groups can tell: a
// cluster needs somewhere to run the control plane and somewhere to run pods,
// and a private topology's bastion needs a Utility subnet to live in.
func validateGroupSet(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) field.ErrorList {
	var errs field.ErrorList
	has := func(role v1alpha1.InstanceGroupRole) bool {
		return slices.ContainsFunc(igs, func(ig *v1alpha1.InstanceGroup) bool { return ig.Spec.Role == role })
	}
	if !has(v1alpha1.RoleControlPlane) {
		errs = append(errs, field.Required(groupsPath, "at least one instance group with role ControlPlane is needed"))
	}
	if !has(v1alpha1.RoleNode) {
		errs = append(errs, field.Required(groupsPath, "at least one instance group with role Node is needed"))
	}
	n := c.Spec.Networking
	if n.Topology == v1alpha1.TopologyPrivate && has(v1alpha1.RoleBastion) &&
		!slices.ContainsFunc(n.Subnets, func(s v1alpha1.SubnetSpec) bool { return s.Type == v1alpha1.SubnetUtility }) {
		errs = append(errs, field.Required(specPath.Child("networking", "subnets"),
			"a bastion in topology private needs a Utility subnet"))
	}
	return errs
}

// validateClusterObject checks the Cluster on its own, without its groups.
func validateClusterObject(c *v1alpha1.Cluster) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateClusterName(c.Metadata.Name)...)
	errs = append(errs, validateMetadata(&c.Metadata, metadataPath)...)

	s := &c.Spec
	if s.CloudProvider != "" && !slices.Contains(cloud.Names(), s.CloudProvider) {
		errs = append(errs, field.NotSupported(specPath.Child("cloudProvider"), s.CloudProvider, cloud.Names()))
	}
	errs = append(errs, validateKubernetesVersion(s.KubernetesVersion)...)
	errs = append(errs, validateChannel(s.Channel)...)
	errs = append(errs, validateNetworking(&s.Networking, specPath.Child("networking"))...)
	errs = append(errs, validateAPI(&s.API, specPath.Child("api"))...)
	errs = append(errs, validateEtcdClusters(s.EtcdClusters, specPath.Child("etcdClusters"))...)
	errs = append(errs, validateComponents(s)...)
	errs = append(errs, validateRollingUpdate(s.RollingUpdate, specPath.Child("rollingUpdate"))...)
	errs = append(errs, validateAccessList(s.SSHAccess, specPath.Child("sshAccess"))...)
	errs = append(errs, validateAccessList(s.KubernetesAPIAccess, specPath.Child("kubernetesAPIAccess"))...)
	errs = append(errs, validateRegistries(s)...)
	errs = append(errs, validateCloudSettings(c)...)

	if s.Assets != nil && s.Assets.Repository != "" {
		if u, err := url.Parse(s.Assets.Repository); err != nil || u.Scheme == "" {
			errs = append(errs, field.Invalid(specPath.Child("assets", "repository"), s.Assets.Repository,
				"must be a URL such as https://mirror.example.com/hull or file:///srv/hull"))
		}
	}
	if s.Bastion != nil {
		bp := specPath.Child("bastion")
		if s.Networking.Topology != v1alpha1.TopologyPrivate {
			errs = append(errs, field.Forbidden(bp, "bastion settings only apply with topology: private"))
		}
		errs = append(errs, validateDNSName(bp.Child("publicName"), s.Bastion.PublicName)...)
	}
	return errs
}

// validateClusterName requires a DNS-1123 subdomain whose every label fits
// DNS's 63 characters (the subdomain check alone does not look at labels):
// the name becomes DNS records (api.<name>) and state store keys. A
// dot-less name is allowed, as kops allows it for gossip clusters.
func validateClusterName(name string) field.ErrorList {
	p := metadataPath.Child("name")
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, name, strings.Join(msgs, "; "))}
	}
	var errs field.ErrorList
	for _, label := range strings.Split(name, ".") {
		if msgs := validation.IsDNS1123Label(label); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p, name, fmt.Sprintf("DNS label %q (%d characters): %s", label, len(label), strings.Join(msgs, "; "))))
		}
	}
	return errs
}

func validateKubernetesVersion(v string) field.ErrorList {
	p := specPath.Child("kubernetesVersion")
	if v == "" {
		return field.ErrorList{field.Required(p, "name the Kubernetes version to run, e.g. 1.37.2")}
	}
	if _, err := version.ParseSemantic(v); err != nil {
		return field.ErrorList{field.Invalid(p, v, "must be a semantic version such as 1.37.2 or v1.37.2")}
	}
	return nil
}

// validateChannel accepts a shipped channel name or a channel file location.
// Plain http is refused because the channel pins binaries and images.
func validateChannel(ch string) field.ErrorList {
	p := specPath.Child("channel")
	const want = "must be a channel name (stable, alpha), a file:// path or an https:// URL"
	switch {
	case ch == "", channelName.MatchString(ch):
		return nil
	case strings.HasPrefix(ch, "file://"):
		if strings.TrimPrefix(ch, "file://") == "" {
			return field.ErrorList{field.Invalid(p, ch, "file:// needs a path to a channel file")}
		}
		return nil
	case strings.HasPrefix(ch, "https://"):
		if u, err := url.Parse(ch); err != nil || u.Host == "" {
			return field.ErrorList{field.Invalid(p, ch, "is not a valid https:// URL")}
		}
		return nil
	case strings.HasPrefix(ch, "http://"):
		return field.ErrorList{field.Invalid(p, ch, "use https://: the channel decides which binaries machines run")}
	}
	return field.ErrorList{field.Invalid(p, ch, want)}
}

func validateAPI(api *v1alpha1.APISpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if lb := api.LoadBalancer; lb != nil {
		p := path.Child("loadBalancer", "type")
		switch {
		case lb.Type == "":
			errs = append(errs, field.Required(p, "Public or Internal"))
		case !slices.Contains(lbTypes, lb.Type):
			errs = append(errs, field.NotSupported(p, lb.Type, lbTypes))
		}
	}
	errs = append(errs, validateDNSName(path.Child("publicName"), api.PublicName)...)
	for i, san := range api.AdditionalSANs {
		errs = append(errs, validateSAN(path.Child("additionalSANs").Index(i), san)...)
	}
	return errs
}

// validateSAN accepts an IP address (v4 or v6: a certificate may carry either
// even though cluster networks are IPv4 today) or a DNS name, possibly wildcard.
func validateSAN(p *field.Path, san string) field.ErrorList {
	if looksLikeIP(san) {
		if _, err := netip.ParseAddr(san); err != nil {
			return field.ErrorList{field.Invalid(p, san, "is not a valid IP address")}
		}
		return nil
	}
	name := strings.ToLower(san) // certificate names are case-insensitive
	if len(validation.IsDNS1123Subdomain(name)) > 0 && len(validation.IsWildcardDNS1123Subdomain(name)) > 0 {
		return field.ErrorList{field.Invalid(p, san, "must be an IP address or a DNS name such as api.example.com or *.example.com")}
	}
	return nil
}

// validateDNSName checks an optional DNS name field.
func validateDNSName(p *field.Path, name string) field.ErrorList {
	if name == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, name, strings.Join(msgs, "; "))}
	}
	return nil
}

// validateComponents checks the per-component settings. Extra args are
// rendered as "--key=value", so a key that already has dashes would become
// "----key" and the component would refuse to start on the machine.
func validateComponents(s *v1alpha1.ClusterSpec) field.ErrorList {
	var errs field.ErrorList
	if s.KubeAPIServer != nil {
		errs = append(errs, validateExtraArgs(s.KubeAPIServer.ExtraArgs, specPath.Child("kubeAPIServer", "extraArgs"))...)
	}
	if s.KubeControllerManager != nil {
		errs = append(errs, validateExtraArgs(s.KubeControllerManager.ExtraArgs, specPath.Child("kubeControllerManager", "extraArgs"))...)
	}
	if s.KubeScheduler != nil {
		errs = append(errs, validateExtraArgs(s.KubeScheduler.ExtraArgs, specPath.Child("kubeScheduler", "extraArgs"))...)
	}
	if s.Kubelet != nil {
		kp := specPath.Child("kubelet")
		errs = append(errs, validateExtraArgs(s.Kubelet.ExtraArgs, kp.Child("extraArgs"))...)
		if m := s.Kubelet.MaxPods; m != nil && *m <= 0 {
			errs = append(errs, field.Invalid(kp.Child("maxPods"), *m, "must be greater than 0"))
		}
	}
	return errs
}

func validateExtraArgs(args map[string]string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(args) {
		switch {
		case strings.TrimLeft(k, "-") == "":
			errs = append(errs, field.Invalid(path.Key(k), k, "must name a flag"))
		case strings.HasPrefix(k, "-"):
			errs = append(errs, field.Invalid(path.Key(k), k,
				fmt.Sprintf("write the flag without leading dashes: %s", strings.TrimLeft(k, "-"))))
		}
	}
	return errs
}

// sortedKeys makes map-driven errors come out in a stable order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
