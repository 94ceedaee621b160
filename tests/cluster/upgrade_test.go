package cluster

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/tests/harness"
)

const oldVersion = "1.36.3"

// TestUpgradeCluster is the upgrade issue's path on real machines: a
// 1.36.3 cluster with a budgeted workload, `upgrade cluster --yes` (a
// backup is listed), `update cluster --yes` (node groups wait for the
// control plane), `rolling-update cluster --yes` (control plane first,
// then the nodes): every node and the API server end at 1.37.2 and the
// workload never dropped below its budget.
func TestUpgradeCluster(t *testing.T) {
	harness.RequireRoot(t)
	if testing.Short() {
		t.Skip("slow: a whole cluster upgraded")
	}
	e := harness.NewEnv(t, hullBin)
	const name = "upgrade.cluster.example.com"
	e.Must("image", "build", "--kubernetes-version", oldVersion)
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("create", "cluster", name, "--kubernetes-version", oldVersion, "--network-cidr", "10.223.0.0/16", "--node-count", "2")
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "5m")
	t.Cleanup(func() { e.Run("delete", "cluster", name, "--yes") })

	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	k := &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}
	client := kubeClient(t, kcfg)
	checkNodeVersions(t, k, "v"+oldVersion)

	applyRUWorkload(t, e, k, ruReplicas-1)
	sampler := startPDBSampler(t, client, ruReplicas-1)
	defer sampler.stop()

	plan := e.Must("upgrade", "cluster", name)
	for _, want := range []string{"KubernetesVersion", oldVersion, version, "Must specify --yes to perform upgrade"} {
		if !strings.Contains(plan, want) {
			t.Errorf("upgrade without --yes lacks %q:\n%s", want, plan)
		}
	}
	r := e.Run("upgrade", "cluster", name, "--yes")
	if r.Code != 0 {
		t.Fatalf("upgrade --yes: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, etcd := range []string{"main", "events"} {
		if !slices.ContainsFunc(listBackups(t, e, name, etcd), func(b backup.Info) bool {
			return strings.Contains(r.Stdout, b.Name+"\n") && strings.Contains(r.Stderr, "Backup "+b.Name+" is listed")
		}) {
			t.Errorf("upgrade --yes named no listed backup of etcd %s:\nstdout:\n%s\nstderr:\n%s", etcd, r.Stdout, r.Stderr)
		}
	}

	up := e.Must("update", "cluster", name, "--yes")
	if !strings.Contains(up, "Version skew: node group nodes-a stays at Kubernetes "+oldVersion) {
		t.Errorf("update did not hold the nodes at %s:\n%s", oldVersion, up)
	}

	dry := e.Must("rolling-update", "cluster", name)
	for _, want := range []string{"Version skew: node group nodes-a stays at Kubernetes " + oldVersion, "With --yes, the control plane is rolled first", "Must specify --yes to rolling-update."} {
		if !strings.Contains(dry, want) {
			t.Errorf("rolling-update without --yes lacks %q:\n%s", want, dry)
		}
	}

	start := time.Now()
	ru := e.Run("rolling-update", "cluster", name, "--yes", "--node-interval", "5s", "--post-drain-delay", "2s", "--validation-timeout", "10m")
	t.Logf("FIGURE rolling-update 1cp+2nodes %s -> %s: %s", oldVersion, version, time.Since(start).Round(100*time.Millisecond))
	if ru.Code != 0 {
		t.Fatalf("rolling-update --yes: exit %d\nstdout:\n%s\nstderr:\n%s", ru.Code, ru.Stdout, ru.Stderr)
	}
	if !strings.Contains(ru.Stdout, "Rolling the control plane to Kubernetes "+version+" before the node groups") {
		t.Errorf("rolling-update did not roll the control plane first:\n%s", ru.Stdout)
	}
	t.Logf("rolling-update output:\n%s", ru.Stdout)

	checkNodeVersions(t, k, "v"+version)
	if v := k.must("version"); !strings.Contains(v, "Server Version: v"+version) {
		t.Errorf("kubectl version:\n%s", v)
	}
	sampler.stop()
	if bad := sampler.violations(); len(bad) > 0 {
		t.Errorf("the workload dropped below its budget of %d:\n%s", ruReplicas-1, strings.Join(bad, "\n"))
	}
	t.Logf("workload sampled %d times; lowest ready count %d (budget %d)", sampler.samples(), sampler.lowest(), ruReplicas-1)
	if sampler.samples() == 0 {
		t.Error("the sampler never sampled")
	}
	checkNoneCordoned(t, client)
	e.Must("validate", "cluster", name)

	nodes, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 3 {
		t.Errorf("%d nodes after the upgrade, want 3", len(nodes.Items))
	}
}

// checkNodeVersions wants every node Ready at kubelet version want.
func checkNodeVersions(t *testing.T, k *kubectl, want string) {
	t.Helper()
	out := k.must("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Errorf("want 3 nodes:\n%s", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != want || f[2] != "True" {
			t.Errorf("node %q: want Ready at %s", l, want)
		}
	}
}
