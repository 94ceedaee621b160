package validation

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// validateCloudSettings refuses the settings only other clouds use, then
// applies the rules of the cluster's own cloud (its registered driver).
// An unknown cloud is reported as spec.cloudProvider's error alone.
func validateCloudSettings(c *v1alpha1.Cluster) field.ErrorList {
	name := c.Spec.CloudProvider
	if name == "" {
		name = cloud.DefaultName
	}
	d, err := cloud.Lookup(name)
	if err != nil {
		return nil
	}
	var errs field.ErrorList
	for _, s := range CloudSettings(&c.Spec) {
		if s.Value != "" && !slices.Contains(d.Settings(), s.Name) {
			errs = append(errs, field.Forbidden(specPath.Child(s.Name), "only applies with cloudProvider: "+cloud.OneOf(CloudsWithSetting(s.Name))))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return d.Validate(c)
}

// CloudSetting is a ClusterSpec field that only some clouds use.
type CloudSetting struct {
	Name  string // the JSON name, as cloud.Driver.Settings lists it
	Value string
}

// CloudSettings lists the spec's cloud-specific fields with their values.
func CloudSettings(s *v1alpha1.ClusterSpec) []CloudSetting {
	return []CloudSetting{{"dnsZone", s.DNSZone}, {"sshKeyName", s.SSHKeyName}, {"sshPublicKey", s.SSHPublicKey}}
}

// CloudsWithSetting names the registered clouds that use a setting.
func CloudsWithSetting(name string) []string {
	return cloud.NamesWhere(func(d cloud.Driver) bool { return slices.Contains(d.Settings(), name) })
}
