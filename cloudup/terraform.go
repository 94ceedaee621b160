package cloudup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
)

// TerraformOptions control `hull update cluster --target terraform`.
type TerraformOptions struct {
	// Dir receives the *.tf.json files and data/ (the groups' user-data).
	Dir string
	Out io.Writer
}

// Terraform writes Terraform JSON for a completed cluster's cloud
// resources instead of creating them, and calls no cloud API. Like kops
// with --target terraform it still writes to the state store what machines
// read at boot (the completed spec and the nodeup configs their user-data
// names), since `terraform apply` launches machines that need them. The
// caller holds the cluster's lease.
func Terraform(ctx context.Context, reg *registry.Registry, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, o TerraformOptions) error {
	name := c.Metadata.Name
	tf, err := TerraformFor(c)
	if err != nil {
		return err
	}
	if err := tf.Check(c); err != nil {
		return fmt.Errorf("cluster %s: %w; set it with `hull edit cluster %s`", name, err, name)
	}
	// No provider: the Terraform model needs nothing from the cloud
	// (AMIs are looked up by Terraform's aws_ami data source).
	m, err := BuildModel(c, igs, nil, reg.Store())
	if err != nil {
		return err
	}
	userData := map[string][]byte{}
	for group, lc := range m.LaunchConfigs {
		userData[group] = lc.UserData
	}
	// The resources carry the cluster's identity, as --target direct
	// tags them; a cluster created before hull kept one gets it now.
	id, err := reg.EnsureClusterID(ctx, name)
	if err != nil {
		return err
	}
	owner := cloud.Owner{Cluster: name, ID: id, Store: reg.Store().URL()}
	// Render first, so a cluster the renderer refuses leaves the store as it was.
	files, err := tf.Render(c, igs, userData, owner)
	if err != nil {
		return err
	}
	progress := output.NewProgress(o.Out)
	if err := reg.PutCompleted(ctx, c, igs); err != nil {
		return err
	}
	if err := m.WriteNodeupConfigs(ctx, reg.Store()); err != nil {
		return err
	}
	progress.Step("Cluster %s: completed spec and %d nodeup configs written to the state store", name, len(m.NodeupConfigs))
	if err := tf.Write(o.Dir, c, igs, userData, owner); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	slices.Sort(names)
	progress.Step("Terraform configuration written to %s: %v and %s/ (user-data of %d groups)", o.Dir, names, tf.DataDir(), len(userData))
	fmt.Fprintf(o.Out, "\nApply it with:\n  cd %s && terraform init && terraform apply\n"+
		"Then replace out-of-date machines with `hull rolling-update cluster %s`.\n", o.Dir, name)
	return nil
}

// ErrNoTerraform is returned (wrapped) for a cluster whose cloud has no
// Terraform output.
var ErrNoTerraform = errors.New("no Terraform output")

// TerraformFor is the Terraform output of a cluster's cloud.
func TerraformFor(c *v1alpha1.Cluster) (cloud.Terraform, error) {
	d, err := cloud.Lookup(c.Spec.CloudProvider)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: spec.cloudProvider: %w", c.Metadata.Name, err)
	}
	if tf := d.Terraform(); tf != nil {
		return tf, nil
	}
	return nil, fmt.Errorf("cluster %s runs on cloud %q: %w; hull writes Terraform for %s clusters only", c.Metadata.Name, c.Spec.CloudProvider, ErrNoTerraform,
		cloud.OneOf(cloud.NamesWhere(func(d cloud.Driver) bool { return d.Terraform() != nil })))
}
