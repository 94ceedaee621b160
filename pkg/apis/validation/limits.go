package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// Sizes hull refuses, so that a spec it accepts is one it can build.
const (
	// MaxInstanceGroupSize is the most machines one instance group may
	// hold; MaxInstanceGroupSizeReason says why, in every error about it.
	MaxInstanceGroupSize       = 1000
	MaxInstanceGroupSizeReason = "a group is the unit hull scales and rolls, one machine at a time; " +
		"spread bigger fleets over several groups, within Kubernetes' tested limit of 5000 nodes per cluster"

	// MaxEtcdMembers is etcd's own advice: every write waits for a
	// majority, so more members make a cluster slower, not safer.
	MaxEtcdMembers = 7

	// MaxMetadataBytes bounds the labels, and separately the annotations,
	// of a Cluster or InstanceGroup: Kubernetes' limit on an object's
	// annotations (keys and values together), 256 KiB.
	MaxMetadataBytes = apivalidation.TotalAnnotationSizeLimitB

	// MaxKubeletListBytes bounds an instance group's node labels, and
	// separately its taints, as written out: the kubelet gets each list as
	// one command-line argument, Linux refuses an argument over 128 KiB,
	// and hull adds labels and taints of its own.
	MaxKubeletListBytes = 64 << 10
)

// validateMetadata checks an object's labels and annotations against
// Kubernetes' syntax and size rules. Label keys name the object to hull's
// own tools, so they follow Kubernetes' rules even though hull's objects
// are not Kubernetes objects.
func validateMetadata(m *v1alpha1.ObjectMeta, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	// hull's cluster label holds the cluster name, a DNS subdomain that may
	// exceed a label value's 63 characters; validateGroup checks it.
	errs = append(errs, validateLabelMap(m.Labels, path.Child("labels"), MaxMetadataBytes,
		"labels, keys and values together, like Kubernetes' limit on annotations", v1alpha1.LabelCluster)...)
	errs = append(errs, validateAnnotations(m.Annotations, path.Child("annotations"))...)
	return errs
}

// validateLabelMap checks each label's key and value (but the value of
// valueCheckedElsewhere, if not ""), and their total size. Over the size,
// only that is reported: a map that large is a mistake as a whole, and one
// error per entry would bury it.
func validateLabelMap(labels map[string]string, path *field.Path, limit int, what, valueCheckedElsewhere string) field.ErrorList {
	if size := mapBytes(labels, 0); size > limit {
		return field.ErrorList{sizeError(path, size, limit, what)}
	}
	var errs field.ErrorList
	for _, k := range sortedKeys(labels) {
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), k, strings.Join(msgs, "; ")))
		}
		if k == valueCheckedElsewhere {
			continue
		}
		if msgs := content.IsLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), labels[k], strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// validateAnnotations follows Kubernetes: keys are label keys in any case,
// values are free, and all of them together fit in 256 KiB.
func validateAnnotations(annotations map[string]string, path *field.Path) field.ErrorList {
	if size := mapBytes(annotations, 0); size > MaxMetadataBytes {
		return field.ErrorList{sizeError(path, size, MaxMetadataBytes, "annotations, keys and values together, as in Kubernetes")}
	}
	var errs field.ErrorList
	for _, k := range sortedKeys(annotations) {
		if msgs := content.IsLabelKey(strings.ToLower(k)); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Key(k), k, strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// mapBytes is the size of a map's keys and values, plus sep bytes per entry
// for the separators of its written-out form.
func mapBytes(m map[string]string, sep int) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + sep
	}
	return n
}

func listBytes(l []string, sep int) int {
	n := 0
	for _, s := range l {
		n += len(s) + sep
	}
	return n
}

func sizeError(path *field.Path, size, limit int, what string) *field.Error {
	e := field.TooLong(path, nil, limit)
	e.Detail = fmt.Sprintf("%s; these are %d: %s", e.Detail, size, what)
	return e
}
