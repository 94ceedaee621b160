package channels

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// API identity of a channel file.
const (
	GroupVersion = "hull.dev/v1alpha1"
	KindChannel  = "Channel"
)

// VersionPlaceholder in an image name stands for the Kubernetes version,
// written without a leading "v".
const VersionPlaceholder = "{version}"

// Channel is one release channel: the Kubernetes minors hull supports, newest
// first, and what each needs. Build one with Load or Parse, which validate it;
// the methods assume a validated channel.
type Channel struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Metadata   Metadata    `json:"metadata"`
	Spec       ChannelSpec `json:"spec"`

	// source names the channel in messages: its name or its location.
	source string
}

// Metadata names a channel.
type Metadata struct {
	Name string `json:"name"`
}

// ChannelSpec lists the supported minors, newest first.
type ChannelSpec struct {
	KubernetesVersions []KubernetesVersion `json:"kubernetesVersions"`
	// BaseImages are the operating system images `hull image build` bakes
	// from on clouds whose images are built there (aws), per architecture.
	BaseImages []Image `json:"baseImages,omitempty"`
}

// KubernetesVersion is one supported minor.
type KubernetesVersion struct {
	// Range holds the versions of this minor the channel knows, such as
	// ">=1.37.0 <1.38.0". It must stay within one minor.
	Range string `json:"range"`
	// RecommendedVersion is the patch hull proposes for this minor.
	RecommendedVersion string `json:"recommendedVersion"`
	// RequiredVersion is the oldest patch of this minor hull still accepts.
	RequiredVersion string `json:"requiredVersion"`
	// EtcdVersion is the etcd release this minor runs with.
	EtcdVersion string `json:"etcdVersion"`
	// Images are the machine images per provider and architecture.
	Images []Image `json:"images"`

	// Filled by validation.
	minor       *version.Version
	bounds      versionRange
	recommended *version.Version
	required    *version.Version
}

// Image names the machine image of one provider and architecture.
type Image struct {
	Provider     string `json:"provider"`
	Architecture string `json:"architecture"`
	// Name is the image name (local) or AMI name pattern (aws); it may hold
	// VersionPlaceholder.
	Name string `json:"name"`
	// Owner is the AWS account (or "self", "amazon") whose AMIs are searched.
	Owner string `json:"owner,omitempty"`
}

// Name is how messages refer to the channel: the name it was loaded by, its
// location, or its metadata.name.
func (c *Channel) Name() string {
	if c.source != "" {
		return c.source
	}
	return c.Metadata.Name
}

// Minor is this entry's minor, such as "1.37".
func (kv *KubernetesVersion) Minor() string { return majorMinor(kv.minor) }

// Contains reports whether v (semver, "v" prefix allowed) is one of this
// entry's versions. Pre-releases of the next minor, which semver orders below
// its .0, are not.
func (kv *KubernetesVersion) Contains(v string) bool {
	pv, err := version.ParseSemantic(v)
	return err == nil && kv.contains(pv)
}

func (kv *KubernetesVersion) contains(v *version.Version) bool {
	return sameMinor(v, kv.minor) && kv.bounds.contains(v)
}

// Minors lists the channel's minors, oldest first ("1.35", "1.36", ...).
func (c *Channel) Minors() []string {
	var out []string
	for _, kv := range c.ascending() {
		out = append(out, kv.Minor())
	}
	return out
}

// VersionsFor returns the entry of a minor; minor may be "1.36" or any
// version of it ("1.36.2").
func (c *Channel) VersionsFor(minor string) (*KubernetesVersion, bool) {
	m, err := version.ParseGeneric(minor)
	if err != nil {
		return nil, false
	}
	for i := range c.Spec.KubernetesVersions {
		kv := &c.Spec.KubernetesVersions[i]
		if sameMinor(kv.minor, m) {
			return kv, true
		}
	}
	return nil, false
}

// Recommended is the recommended version of a minor.
func (c *Channel) Recommended(minor string) (string, bool) {
	kv, ok := c.VersionsFor(minor)
	if !ok {
		return "", false
	}
	return kv.RecommendedVersion, true
}

// Required is the oldest version of a minor the channel accepts.
func (c *Channel) Required(minor string) (string, bool) {
	kv, ok := c.VersionsFor(minor)
	if !ok {
		return "", false
	}
	return kv.RequiredVersion, true
}

// Lookup returns the entry whose range holds v.
func (c *Channel) Lookup(v string) (*KubernetesVersion, error) {
	pv, err := version.ParseSemantic(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not a semantic version", v)
	}
	for i := range c.Spec.KubernetesVersions {
		kv := &c.Spec.KubernetesVersions[i]
		if kv.contains(pv) {
			return kv, nil
		}
	}
	return nil, fmt.Errorf("channel %s does not list Kubernetes %s (it lists %s)", c.Name(), v, c.describe())
}

// ImageFor is the image of a Kubernetes version for one provider and
// architecture, with the version filled into its name.
func (c *Channel) ImageFor(provider, arch, v string) (Image, error) {
	kv, err := c.Lookup(v)
	if err != nil {
		return Image{}, err
	}
	for _, img := range kv.Images {
		if img.Provider == provider && img.Architecture == arch {
			img.Name = strings.ReplaceAll(img.Name, VersionPlaceholder, strings.TrimPrefix(v, "v"))
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("channel %s has no %s/%s image for Kubernetes %s", c.Name(), provider, arch, v)
}

// BaseImageFor is the operating system image hull bakes a provider's
// machine images from, for one architecture.
func (c *Channel) BaseImageFor(provider, arch string) (Image, error) {
	for _, img := range c.Spec.BaseImages {
		if img.Provider == provider && img.Architecture == arch {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("channel %s has no %s/%s base image to bake from", c.Name(), provider, arch)
}

// EtcdFor is the etcd version a Kubernetes version runs with.
func (c *Channel) EtcdFor(v string) (string, error) {
	kv, err := c.Lookup(v)
	if err != nil {
		return "", err
	}
	return kv.EtcdVersion, nil
}

// Latest is the recommended version of the newest minor.
func (c *Channel) Latest() string {
	kvs := c.ascending()
	if len(kvs) == 0 {
		return ""
	}
	return kvs[len(kvs)-1].RecommendedVersion
}

// ascending returns the entries oldest minor first.
func (c *Channel) ascending() []*KubernetesVersion {
	out := make([]*KubernetesVersion, len(c.Spec.KubernetesVersions))
	for i := range c.Spec.KubernetesVersions {
		out[i] = &c.Spec.KubernetesVersions[i]
	}
	slices.SortFunc(out, func(a, b *KubernetesVersion) int { return compareMinor(a.minor, b.minor) })
	return out
}

// describe lists the ranges, for "not listed" messages.
func (c *Channel) describe() string {
	var rs []string
	for _, kv := range c.ascending() {
		rs = append(rs, kv.Minor()+".x")
	}
	if len(rs) == 0 {
		return "no versions"
	}
	return strings.Join(rs, ", ")
}

func majorMinor(v *version.Version) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%d.%d", v.Major(), v.Minor())
}

func sameMinor(a, b *version.Version) bool {
	return a != nil && b != nil && a.Major() == b.Major() && a.Minor() == b.Minor()
}

func compareMinor(a, b *version.Version) int {
	if c := cmp.Compare(a.Major(), b.Major()); c != 0 {
		return c
	}
	return cmp.Compare(a.Minor(), b.Minor())
}
