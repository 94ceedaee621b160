package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/pkg/apis/codec"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/apis/validation"
	"github.com/hullproject/hull/pkg/cli/output"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/state"
)

// DefaultKubernetesVersion is used when --kubernetes-version is not given.
// It is the newest version the stable channel recommends.
const DefaultKubernetesVersion = "1.37.2"

func newCreateCommand(o *rootOptions) *cobra.Command {
	var filename string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create a cluster or instance groups",
		Long: `Create a cluster from flags (hull create cluster NAME) or create the
Cluster and InstanceGroup documents of a YAML file (hull create -f FILE).`,
		Example: `  hull create -f cluster.yaml
  hull create cluster demo.example.com --control-plane-count 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if filename == "" {
				return usagef("-f/--filename is required (or use `hull create cluster NAME`)")
			}
			return o.createFromFile(cmd.Context(), filename)
		},
	}
	cmd.Flags().StringVarP(&filename, "filename", "f", "", "YAML file with Cluster and InstanceGroup documents (- for stdin)")
	cmd.AddCommand(newCreateClusterCommand(o))
	return cmd
}

type createClusterOptions struct {
	newcluster.Options
	// The counts as flags; newcluster sees them only if given (cobra's
	// Changed), because --node-count 0 is a request, not "unset".
	controlPlaneCount, nodeCount int
	zones                        string
	sshPublicKey                 string // --ssh-public-key FILE
	dryRun                       bool
	output                       string
}

func newCreateClusterCommand(o *rootOptions) *cobra.Command {
	co := &createClusterOptions{}
	cmd := &cobra.Command{
		Use:   "cluster NAME",
		Short: "Create a cluster spec and its PKI in the state store",
		Long: fmt.Sprintf(`Create the desired Cluster, one ControlPlane instance group per etcd
member spread over the zones, Node instance groups and the cluster's
certificate authorities, and write them to the state store.
Nothing changes in the cloud until 'hull update cluster NAME --yes'.

A spec hull could not build is refused before anything is written: a
Kubernetes version the cluster's channel does not list, more than %d
control-plane machines (etcd members), more than %d machines in one
instance group, a cluster name with a DNS label over 63 characters, and
labels, annotations or taints over Kubernetes' limits. If a write fails,
what was written is removed again; leftovers of an interrupted create or
delete of the same name are removed first (see docs/state-store.md).`,
			validation.MaxEtcdMembers, validation.MaxInstanceGroupSize),
		Example: `  hull create cluster demo.example.com
  hull create cluster prod.example.com --cloud aws --zones us-east-1a,us-east-1b,us-east-1c --control-plane-count 3
  hull create cluster prod.example.com --cloud aws --zones eu-west-1a --dns-zone example.com --ssh-public-key ~/.ssh/id_ed25519.pub
  hull create cluster demo.example.com --dry-run -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			co.Name = name
			if cmd.Flags().Changed("control-plane-count") {
				co.ControlPlaneCount = &co.controlPlaneCount
			}
			if cmd.Flags().Changed("node-count") {
				co.NodeCount = &co.nodeCount
			}
			return o.createCluster(cmd.Context(), co)
		},
	}
	f := cmd.Flags()
	f.StringVar(&co.Cloud, "cloud", newcluster.DefaultCloud, "cloud provider: "+cloud.OneOf(cloud.Names()))
	f.StringVar(&co.zones, "zones", "", "comma-separated zones (default local-a for --cloud local; required for aws)")
	f.IntVar(&co.controlPlaneCount, "control-plane-count", newcluster.DefaultControlPlaneCount, fmt.Sprintf("number of control-plane machines, each an etcd member (odd: 1, 3, 5; at most %d)", validation.MaxEtcdMembers))
	f.IntVar(&co.nodeCount, "node-count", newcluster.DefaultNodeCount, fmt.Sprintf("number of worker machines, spread over the zones (0: one empty node group; at most %d per zone)", validation.MaxInstanceGroupSize))
	f.StringVar(&co.KubernetesVersion, "kubernetes-version", DefaultKubernetesVersion, "Kubernetes version")
	f.StringVar(&co.Topology, "topology", v1alpha1.TopologyPublic, "network topology: public or private")
	f.BoolVar(&co.Bastion, "bastion", false, "add a bastion instance group (needs --topology private)")
	f.StringVar(&co.NetworkCIDR, "network-cidr", "", "network CIDR (default 172.20.0.0/16)")
	f.StringVar(&co.NodeSize, "node-size", "", "machine type of the workers")
	f.StringVar(&co.ControlPlaneSize, "control-plane-size", "", "machine type of the control plane")
	f.StringVar(&co.Channel, "channel", "", "release channel (default stable)")
	f.StringVar(&co.DNSZone, "dns-zone", "", "aws: Route 53 hosted zone (id or name) for the record api.NAME -> API load balancer; without it machines and kubeconfigs use the load balancer's own DNS name")
	f.StringVar(&co.sshPublicKey, "ssh-public-key", "", "aws: OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub) imported as the cluster's EC2 key pair")
	f.StringVar(&co.SSHKeyName, "ssh-key-name", "", "aws: existing EC2 key pair machines accept for SSH")
	f.BoolVar(&co.dryRun, "dry-run", false, "print the objects instead of writing them")
	f.StringVarP(&co.output, "output", "o", "yaml", "output format with --dry-run: yaml or json")
	return cmd
}

func (o *rootOptions) createCluster(ctx context.Context, co *createClusterOptions) error {
	if co.zones != "" {
		co.Zones = strings.Split(co.zones, ",")
	}
	if co.sshPublicKey != "" {
		key, err := os.ReadFile(co.sshPublicKey)
		if err != nil {
			return usagef("--ssh-public-key: %v", err)
		}
		if err := aws.CheckSSHPublicKey(string(key)); err != nil {
			return usagef("--ssh-public-key %s: %v", co.sshPublicKey, err)
		}
		co.SSHPublicKey = string(key)
	}
	c, igs, err := newcluster.Build(co.Options)
	if err != nil {
		return usageError{err}
	}
	if co.dryRun {
		f, err := output.ParseFormat(co.output)
		if err != nil || f == output.Table {
			return usagef("-o/--output with --dry-run must be yaml or json, got %q", co.output)
		}
		if err := cluster.CheckSpec(ctx, c, igs, "mem://dry-run/"+c.Metadata.Name); err != nil {
			return err
		}
		return printObjects(o, f, c, igs)
	}
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	if err := cluster.Create(ctx, reg, c, igs); err != nil {
		return err
	}
	fmt.Fprintf(o.out, `Cluster configuration for %[1]s has been written to %[2]s.

Suggestions:
 * list the instance groups:  hull get instancegroups --name %[1]s
 * edit the cluster:          hull edit cluster %[1]s
 * build the cluster:         hull update cluster %[1]s --yes
`, c.Metadata.Name, reg.Store().URL())
	return nil
}

func printObjects(o *rootOptions, f output.Format, c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup) error {
	objs := []any{c}
	for _, ig := range igs {
		objs = append(objs, ig)
	}
	if f == output.YAML {
		b, err := codec.EncodeAll(objs...)
		if err != nil {
			return err
		}
		_, err = o.out.Write(b)
		return err
	}
	for _, obj := range objs {
		if err := codec.SetTypeMeta(obj); err != nil {
			return err
		}
	}
	return output.Structured(o.out, f, objs)
}

func readManifest(o *rootOptions, filename string) (*codec.Objects, error) {
	var data []byte
	var err error
	if filename == "-" {
		data, err = readAll(o.in)
	} else {
		data, err = os.ReadFile(filename)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filename, err)
	}
	objs, err := codec.DecodeAll(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	return objs, nil
}

// createFromFile creates each Cluster in the file with its groups, and adds
// groups whose cluster already exists. Everything is checked before anything
// is written.
func (o *rootOptions) createFromFile(ctx context.Context, filename string) error {
	objs, err := readManifest(o, filename)
	if err != nil {
		return err
	}
	reg, err := o.openRegistry(ctx)
	if err != nil {
		return err
	}
	newClusters := map[string]bool{}
	for _, c := range objs.Clusters {
		if newClusters[c.Metadata.Name] {
			return fmt.Errorf("%s: Cluster %q appears twice", filename, c.Metadata.Name)
		}
		newClusters[c.Metadata.Name] = true
		if err := cluster.CheckSpec(ctx, c, groupsOf(objs.InstanceGroups, c.Metadata.Name), reg.ConfigBase(c.Metadata.Name)); err != nil {
			return err
		}
	}
	// Groups for clusters that already exist, checked against those clusters.
	added := map[string][]*v1alpha1.InstanceGroup{}
	for _, ig := range objs.InstanceGroups {
		owner := ig.ClusterName()
		if newClusters[owner] {
			continue
		}
		if owner == "" {
			return fmt.Errorf("%s: InstanceGroup %q: metadata.labels[%s]: Required value: name the cluster it belongs to", filename, ig.Metadata.Name, v1alpha1.LabelCluster)
		}
		added[owner] = append(added[owner], ig)
	}
	for owner, igs := range added {
		c, existing, err := loadCluster(ctx, reg, owner)
		if err != nil {
			return err
		}
		all := existing
		for _, ig := range igs {
			for _, e := range existing {
				if e.Metadata.Name == ig.Metadata.Name {
					return fmt.Errorf("instance group %q already exists in cluster %s: use `hull replace -f` to change it", ig.Metadata.Name, owner)
				}
			}
			all = withGroup(all, ig)
		}
		if errs := validation.ValidateCluster(c, all); len(errs) > 0 {
			return &cluster.InvalidError{What: fmt.Sprintf("cluster %q with the new instance groups", owner), Errs: errs}
		}
	}

	for _, c := range objs.Clusters {
		if err := cluster.Create(ctx, reg, c, groupsOf(objs.InstanceGroups, c.Metadata.Name)); err != nil {
			return err
		}
		fmt.Fprintf(o.out, "Created cluster %s\n", c.Metadata.Name)
	}
	for owner, igs := range added {
		if err := reg.CreateInstanceGroups(ctx, owner, igs); err != nil {
			if errors.Is(err, state.ErrConflict) {
				return fmt.Errorf("an instance group was created by someone else meanwhile: %w", err)
			}
			return err
		}
		for _, ig := range igs {
			fmt.Fprintf(o.out, "Created instance group %s in cluster %s\n", ig.Metadata.Name, owner)
		}
	}
	return nil
}
