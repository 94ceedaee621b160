package cluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/cluster"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"

	// The clouds hull serves register their drivers; the stable channel
	// lists images of both.
	_ "github.com/hullproject/hull/cloudup/aws"
)

const name = "demo.example.com"

// newCluster creates a local cluster in a store of its own, with a local
// cloud directory that no daemon serves: operations that only look read
// its (empty) state, as a dry run on a fresh host does.
func newCluster(t *testing.T) *registry.Registry {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(local.EnvStateDir, filepath.Join(dir, "cloud"))
	store, err := state.Open(context.Background(), "file://"+filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := registry.New(store)
	c, igs, err := newcluster.Build(newcluster.Options{Name: name, KubernetesVersion: "1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Create(context.Background(), reg, c, igs); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestLibraryCommands: the commands are library calls on one handle; the
// ones that only look change nothing and start no daemon.
func TestLibraryCommands(t *testing.T) {
	ctx := context.Background()
	reg := newCluster(t)
	cl := cluster.Open(reg, name, cluster.Options{})
	defer cl.Close()

	// A fresh host has no image of the version yet: the plan says how to get one.
	if _, err := cl.Update(ctx, cluster.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "hull image build") {
		t.Errorf("update dry run without the image: %v, want the way to build it", err)
	}
	if insts, err := cl.Instances(ctx); err != nil || len(insts) != 0 {
		t.Errorf("instances of a cluster never updated: %v, %v; want none", insts, err)
	}
	d, err := cl.PlanDelete(ctx, false)
	if err != nil {
		t.Fatalf("plan delete: %v", err)
	}
	if !d.Resources.Empty() || d.Cloud != "local" || !slices.Contains(d.Objects, name+"/config") {
		t.Errorf("delete plan: cloud %s, resources %v, objects %v; want nothing in the local cloud and the spec in the store", d.Cloud, d.Resources.Keys(), d.Objects)
	}
	if err := cl.Terraform(ctx, t.TempDir()); !errors.Is(err, cluster.ErrNoTerraform) {
		t.Errorf("terraform of a local cluster: %v, want ErrNoTerraform", err)
	}
	etcds, err := cl.EtcdClusters(ctx)
	if err != nil || !slices.Equal(etcds, []string{"main", "events"}) {
		t.Errorf("etcd clusters %v, %v", etcds, err)
	}
	if list, err := cl.Backups(ctx, "main"); err != nil || len(list) != 0 {
		t.Errorf("backups of a new cluster: %v, %v; want none", list, err)
	}
	if _, _, err := reg.GetCluster(ctx, name); err != nil {
		t.Errorf("the looking operations changed the store: %v", err)
	}
}

// TestUpgradePlanIsTheLibrary: the next step, the rows and the path come
// from the facade; only printing is left to the CLI.
func TestUpgradePlanIsTheLibrary(t *testing.T) {
	ctx := context.Background()
	reg := newCluster(t)
	cl := cluster.Open(reg, name, cluster.Options{})
	up, err := cl.PlanUpgrade(ctx, cluster.UpgradeOptions{Channel: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if up.Empty() || up.Step == nil || up.NewChannel != "alpha" {
		t.Fatalf("upgrade plan within alpha: %+v", up)
	}
	steps, err := up.Path()
	if err != nil || len(steps) == 0 || steps[0] != *up.Step {
		t.Errorf("path %v, %v; want it to start with the planned step %v", steps, err, *up.Step)
	}
}
