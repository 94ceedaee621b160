package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/channels"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/registry"
)

// InvalidError lists every validation error of a spec, one per line,
// field path first.
type InvalidError struct {
	What string // "cluster \"demo.example.com\"", ...
	Errs field.ErrorList
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is invalid (%d error", e.What, len(e.Errs))
	if len(e.Errs) != 1 {
		b.WriteString("s")
	}
	b.WriteString("); nothing was written:")
	for _, fe := range e.Errs {
		fmt.Fprintf(&b, "\n  %s", fe.Error())
	}
	return b.String()
}

// CheckSpec validates the user's objects, then completes them and
// validates the completed spec too: the user may leave CIDRs and sizes for
// hull to choose, and hull's choices must be valid as well. Last, the
// Kubernetes version must be one the cluster's channel lists. Every
// operation that writes a spec calls it; configBase is where the store
// keeps the cluster.
func CheckSpec(ctx context.Context, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, configBase string) error {
	what := fmt.Sprintf("cluster %q", c.Metadata.Name)
	if errs := validation.ValidateCluster(c, igs); len(errs) > 0 {
		return &InvalidError{What: what, Errs: errs}
	}
	cc, cigs, err := completion.Complete(c, igs, completion.Options{ConfigBase: configBase})
	if err != nil {
		return fmt.Errorf("complete %s: %w", what, err)
	}
	if errs := validation.ValidateCluster(cc, cigs); len(errs) > 0 {
		return &InvalidError{What: "completed spec of " + what, Errs: errs}
	}
	ch, err := channels.Load(ctx, cc.Spec.Channel)
	if err != nil {
		return fmt.Errorf("%s: load its channel to check spec.kubernetesVersion: %w", what, err)
	}
	if errs := validation.ValidateVersionInChannel(cc, ch); len(errs) > 0 {
		return &InvalidError{What: what, Errs: errs}
	}
	return nil
}

// Create checks a new cluster, issues its keysets and writes everything to
// reg; nothing changes in the cloud until Update.
func Create(ctx context.Context, reg *registry.Registry, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) error {
	if err := CheckSpec(ctx, c, igs, reg.ConfigBase(c.Metadata.Name)); err != nil {
		return err
	}
	keysets, err := pki.NewClusterKeysets(c.Metadata.Name, etcdClusterNames(c), time.Now())
	if err != nil {
		return fmt.Errorf("issue keysets: %w", err)
	}
	return reg.CreateCluster(ctx, c, igs, keysets)
}

func etcdClusterNames(c *v1alpha1.Cluster) []string {
	var names []string
	for _, e := range c.Spec.EtcdClusters {
		names = append(names, e.Name)
	}
	return names
}

// withoutGroup returns igs less the named group.
func withoutGroup(igs []*v1alpha1.InstanceGroup, name string) []*v1alpha1.InstanceGroup {
	return slices.DeleteFunc(slices.Clone(igs), func(g *v1alpha1.InstanceGroup) bool { return g.Metadata.Name == name })
}
