package validation

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// requiredEtcdClusters are the clusters every control plane runs: main holds
// the API objects, events keeps the high-churn Events away from them.
var requiredEtcdClusters = []string{"main", "events"}

// minBackupInterval keeps scheduled snapshots from hammering the state store.
const minBackupInterval = time.Minute

var etcdPath = specPath.Child("etcdClusters")

func validateEtcdClusters(clusters []v1alpha1.EtcdClusterSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range clusters {
		ec := &clusters[i]
		p := path.Index(i)
		switch {
		case ec.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "main or events"))
		case names[ec.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), ec.Name))
		default:
			// The name is part of state store keys and etcd data directories.
			if msgs := validation.IsDNS1123Label(ec.Name); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Child("name"), ec.Name, strings.Join(msgs, "; ")))
			}
		}
		names[ec.Name] = true
		if ec.Version != "" {
			if _, err := version.ParseSemantic(ec.Version); err != nil {
				errs = append(errs, field.Invalid(p.Child("version"), ec.Version, "must be a semantic version such as 3.5.21"))
			}
		}
		errs = append(errs, validateEtcdMembers(ec.Members, p.Child("members"))...)
		errs = append(errs, validateEtcdBackups(ec.Backups, p.Child("backups"))...)
	}
	for _, want := range requiredEtcdClusters {
		if !names[want] {
			errs = append(errs, field.Required(path, fmt.Sprintf("etcd cluster %q is required", want)))
		}
	}
	return errs
}

func validateEtcdMembers(members []v1alpha1.EtcdMemberSpec, path *field.Path) field.ErrorList {
	if len(members) == 0 {
		return field.ErrorList{field.Required(path, "one member per control-plane group")}
	}
	var errs field.ErrorList
	// An even count buys no extra failure tolerance over the next smaller odd
	// count and makes a network split able to stall both halves.
	if len(members)%2 == 0 {
		errs = append(errs, field.Invalid(path, len(members), "etcd needs an odd number of members for quorum (1, 3 or 5)"))
	}
	if len(members) > MaxEtcdMembers {
		errs = append(errs, field.TooMany(path, len(members), MaxEtcdMembers))
		errs[len(errs)-1].Detail += ": etcd advises no more, because every write waits for a majority of members"
	}
	names, groups := map[string]bool{}, map[string]bool{}
	for j, m := range members {
		mp := path.Index(j)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(mp.Child("name"), ""))
		case names[m.Name]:
			errs = append(errs, field.Duplicate(mp.Child("name"), m.Name))
		default:
			if msgs := validation.IsDNS1123Label(m.Name); len(msgs) > 0 {
				errs = append(errs, field.Invalid(mp.Child("name"), m.Name, strings.Join(msgs, "; ")))
			}
		}
		names[m.Name] = true
		// A control-plane group has exactly one machine, so it can host only
		// one member of each etcd cluster.
		switch {
		case m.InstanceGroup == "":
			errs = append(errs, field.Required(mp.Child("instanceGroup"), "name the control-plane group that runs this member"))
		case groups[m.InstanceGroup]:
			errs = append(errs, field.Duplicate(mp.Child("instanceGroup"), m.InstanceGroup))
		}
		groups[m.InstanceGroup] = true
	}
	return errs
}

func validateEtcdBackups(b *v1alpha1.EtcdBackupSpec, path *field.Path) field.ErrorList {
	if b == nil {
		return nil
	}
	var errs field.ErrorList
	if b.Interval != nil && b.Interval.Duration < minBackupInterval {
		errs = append(errs, field.Invalid(path.Child("interval"), b.Interval.Duration.String(),
			"must be at least 1m"))
	}
	r := b.Retention
	if r == nil {
		return errs
	}
	rp := path.Child("retention")
	// Each tier thins out what the previous one kept, so a tier shorter than
	// the one before it would never apply.
	tiers := []struct {
		name string
		d    *metav1.Duration
	}{{"keepAllFor", r.KeepAllFor}, {"hourlyFor", r.HourlyFor}, {"dailyFor", r.DailyFor}}
	prev := -1
	for i, t := range tiers {
		if t.d == nil {
			continue
		}
		if t.d.Duration < 0 {
			errs = append(errs, field.Invalid(rp.Child(t.name), t.d.Duration.String(), "must not be negative"))
			continue
		}
		if prev >= 0 && t.d.Duration < tiers[prev].d.Duration {
			errs = append(errs, field.Invalid(rp.Child(t.name), t.d.Duration.String(),
				fmt.Sprintf("must be at least %s (%s)", tiers[prev].name, tiers[prev].d.Duration)))
		}
		prev = i
	}
	return errs
}

// validateEtcdMembership checks etcd against the groups in both directions:
// every member runs on an existing ControlPlane group, and every ControlPlane
// group runs a member of every etcd cluster.
func validateEtcdMembership(c *v1alpha1.Cluster, groups map[string]*v1alpha1.InstanceGroup) field.ErrorList {
	var errs field.ErrorList
	for i, ec := range c.Spec.EtcdClusters {
		for j, m := range ec.Members {
			if m.InstanceGroup == "" {
				continue
			}
			p := etcdPath.Index(i).Child("members").Index(j).Child("instanceGroup")
			ig, ok := groups[m.InstanceGroup]
			switch {
			case !ok:
				errs = append(errs, field.Invalid(p, m.InstanceGroup, "names no instance group of this cluster"))
			case ig.Spec.Role != v1alpha1.RoleControlPlane:
				errs = append(errs, field.Invalid(p, m.InstanceGroup,
					fmt.Sprintf("names a group with role %q; etcd members run on ControlPlane groups", ig.Spec.Role)))
			}
		}
	}
	for _, name := range sortedGroupNames(groups) {
		if groups[name].Spec.Role == v1alpha1.RoleControlPlane {
			errs = append(errs, missingEtcdMembers(c, name)...)
		}
	}
	return errs
}

// missingEtcdMembers reports each etcd cluster without a member on the named
// control-plane group. The error sits on the members list because adding a
// member there is the fix. Clusters without members were already reported.
func missingEtcdMembers(c *v1alpha1.Cluster, group string) field.ErrorList {
	var errs field.ErrorList
	for i, ec := range c.Spec.EtcdClusters {
		if len(ec.Members) == 0 || etcdMemberOn(ec, group) >= 0 {
			continue
		}
		errs = append(errs, field.Required(etcdPath.Index(i).Child("members"),
			fmt.Sprintf("control-plane group %q needs a member in etcd cluster %q: every control-plane group runs one member of every etcd cluster", group, ec.Name)))
	}
	return errs
}

// etcdMemberOn returns the index of the member placed on group, or -1.
func etcdMemberOn(ec v1alpha1.EtcdClusterSpec, group string) int {
	for j, m := range ec.Members {
		if m.InstanceGroup == group {
			return j
		}
	}
	return -1
}

func sortedGroupNames(groups map[string]*v1alpha1.InstanceGroup) []string {
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
