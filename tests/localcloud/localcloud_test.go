package localcloud

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hullproject/hull/tests/harness"
)

var hullBin, bootBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hull-e2e-bin-")
	if err != nil {
		panic(err)
	}
	if hullBin, err = harness.Build(dir, "github.com/hullproject/hull/cmd/hull", "hull", ""); err == nil {
		bootBin, err = harness.Build(dir, "github.com/hullproject/hull/internal/testboot", "testboot", "")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	cluster = "e2e.local.example.com"
	image   = "hull-e2e-boot"
)

// clusterYAML is a 3-group cluster on a network no real host uses.
func clusterYAML(name, cidr, subnet, img string, nodesB int) string {
	return fmt.Sprintf(`apiVersion: hull.dev/v1alpha1
kind: Cluster
metadata:
  name: %[1]s
spec:
  cloudProvider: local
  kubernetesVersion: 1.37.2
  networking:
    networkCIDR: %[2]s
    subnets:
    - name: zone-a
      zone: local-a
      cidr: %[3]s
      type: Public
  etcdClusters:
  - name: main
    members: [{name: a, instanceGroup: control-plane-a}]
  - name: events
    members: [{name: a, instanceGroup: control-plane-a}]
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: control-plane-a, labels: {hull.dev/cluster: %[1]s}}
spec: {role: ControlPlane, minSize: 1, maxSize: 1, subnets: [zone-a], image: %[4]s}
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: nodes-a, labels: {hull.dev/cluster: %[1]s}}
spec: {role: Node, minSize: 2, maxSize: 2, subnets: [zone-a], image: %[4]s}
---
apiVersion: hull.dev/v1alpha1
kind: InstanceGroup
metadata: {name: nodes-b, labels: {hull.dev/cluster: %[1]s}}
spec: {role: Node, minSize: %[5]d, maxSize: %[5]d, subnets: [zone-a], image: %[4]s}
`, name, cidr, subnet, img, nodesB)
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var insecure = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}

func get(url string) (string, error) {
	resp, err := insecure.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}

func TestLocalCloudLifecycle(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t, hullBin)
	imgDir := filepath.Join(e.Dir, image)
	if err := harness.WriteImage(imgDir, bootBin, map[string]string{"kubernetes": "none"}); err != nil {
		t.Fatal(err)
	}
	e.Must("image", "import", imgDir, "--name", image)
	e.Must("create", "-f", write(t, e.Dir, "c.yaml", clusterYAML(cluster, "10.213.0.0/16", "10.213.32.0/19", image, 1)))

	plan := e.Must("update", "cluster", cluster)
	for _, want := range []string{"Will create resources:", "Network/" + cluster, "Subnet/zone-a", "LaunchConfig/nodes-a", "InstanceGroup/nodes-b", "LoadBalancer/api", "Must specify --yes to apply changes"} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	if got := e.Instances(cluster); len(got) != 0 {
		t.Fatalf("dry run launched machines: %+v", got)
	}

	start := time.Now()
	e.Must("update", "cluster", cluster, "--yes")
	insts := e.WaitInstances(cluster, 90*time.Second, "4 running machines", func(in []harness.Instance) bool { return harness.RunningCount(in) == 4 })
	t.Logf("FIGURE update --yes to 4 machines running: %s", time.Since(start).Round(10*time.Millisecond))

	t.Run("each machine has its own address and reaches the others", func(t *testing.T) {
		seen := map[string]bool{}
		for _, a := range insts {
			if seen[a.Address] || !strings.HasPrefix(a.Address, "10.213.") {
				t.Errorf("instance %s address %q: not unique or not in its subnet", a.ID, a.Address)
			}
			seen[a.Address] = true
			host, err := get("http://" + a.Address + ":8080/hostname")
			if err != nil || host != a.ID {
				t.Errorf("machine %s answers hostname %q (%v)", a.ID, host, err)
			}
			for _, b := range insts {
				if a.ID == b.ID {
					continue
				}
				if _, err := get(fmt.Sprintf("http://%s:8080/dial?addr=%s:8080", a.Address, b.Address)); err != nil {
					t.Errorf("%s cannot reach %s over the bridge: %v", a.ID, b.ID, err)
				}
			}
		}
	})

	ctx := context.Background()
	cl, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	t.Run("second update changes nothing", func(t *testing.T) {
		if out := e.Must("update", "cluster", cluster, "--yes"); !strings.Contains(out, "No changes need to be applied") {
			t.Errorf("second update --yes:\n%s", out)
		}
		if out := e.Must("update", "cluster", cluster); !strings.Contains(out, "No changes need to be applied") {
			t.Errorf("dry run after apply:\n%s", out)
		}
	})

	t.Run("a crashed machine is replaced", func(t *testing.T) {
		var victim harness.Instance
		for _, in := range e.Instances(cluster) {
			if in.Group == "nodes-a" {
				victim = in
			}
		}
		info, err := cl.Machine(ctx, victim.ID)
		if err != nil || info.Machine == nil {
			t.Fatalf("machine %s: %v", victim.ID, err)
		}
		if err := syscall.Kill(info.Machine.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.WaitInstances(cluster, 60*time.Second, "nodes-a replaced", func(in []harness.Instance) bool {
			n := 0
			for _, i := range in {
				if i.ID == victim.ID {
					return false
				}
				if i.Group == "nodes-a" && i.State == "Running" {
					n++
				}
			}
			return n == 2
		})
	})

	t.Run("the API load balancer forwards only to healthy backends", func(t *testing.T) {
		lb, err := cl.FindLoadBalancer(ctx, cluster, "api")
		if err != nil || lb == nil {
			t.Fatalf("load balancer: %v", err)
		}
		var cp harness.Instance
		for _, in := range e.Instances(cluster) {
			if in.Role == "ControlPlane" {
				cp = in
			}
		}
		harness.Eventually(t, 20*time.Second, "LB to forward from the host", func() error {
			host, err := get("https://" + lb.HostAddress + "/hostname")
			if err == nil && host != cp.ID {
				return fmt.Errorf("LB answered from %q, want %s", host, cp.ID)
			}
			return err
		})
		var node harness.Instance
		for _, in := range e.Instances(cluster) {
			if in.Role == "Node" {
				node = in
			}
		}
		if _, err := get(fmt.Sprintf("http://%s:8080/dial?addr=%s", node.Address, lb.Address)); err != nil {
			t.Errorf("a machine cannot reach the LB at %s: %v", lb.Address, err)
		}
		if _, err := get("http://" + cp.Address + ":8080/sick"); err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 20*time.Second, "LB to stop forwarding to the sick backend", func() error {
			if _, err := get("https://" + lb.HostAddress + "/readyz"); err == nil {
				return fmt.Errorf("still forwarded to the unhealthy backend")
			}
			return nil
		})
	})

	t.Run("a changed group is modified in place", func(t *testing.T) {
		e.Must("replace", "-f", write(t, e.Dir, "c2.yaml", clusterYAML(cluster, "10.213.0.0/16", "10.213.32.0/19", image, 2)))
		plan := e.Must("update", "cluster", cluster)
		for _, want := range []string{"Will modify resources:", "InstanceGroup/nodes-b", "maxSize", "1 -> 2"} {
			if !strings.Contains(plan, want) {
				t.Errorf("plan lacks %q:\n%s", want, plan)
			}
		}
		e.Must("update", "cluster", cluster, "--yes")
		e.WaitInstances(cluster, 60*time.Second, "5 running machines", func(in []harness.Instance) bool { return harness.RunningCount(in) == 5 })
	})

	t.Run("overlapping networks and missing images are refused", func(t *testing.T) {
		other := "clash.local.example.com"
		e.Must("create", "-f", write(t, e.Dir, "o.yaml", clusterYAML(other, "10.213.0.0/16", "10.213.32.0/19", image, 1)))
		e.Fails([]string{cluster, "10.213.0.0/16"}, "update", "cluster", other, "--yes")
		e.Must("delete", "cluster", other, "--yes")
		missing := "noimage.local.example.com"
		e.Must("create", "-f", write(t, e.Dir, "m.yaml", clusterYAML(missing, "10.214.0.0/16", "10.214.32.0/19", "no-such-image", 1)))
		e.Fails([]string{`image "no-such-image"`}, "update", "cluster", missing)
		e.Must("delete", "cluster", missing, "--yes")
	})

	t.Run("delete leaves nothing behind", func(t *testing.T) {
		var ids []string
		var pids []int
		for _, in := range e.Instances(cluster) {
			ids = append(ids, in.ID)
			if info, err := cl.Machine(ctx, in.ID); err == nil && info.Machine != nil {
				pids = append(pids, info.Machine.PID)
			}
		}
		out := e.Must("delete", "cluster", cluster)
		if !strings.Contains(out, "InstanceGroup/nodes-a") || !strings.Contains(out, "Must specify --yes") {
			t.Errorf("delete without --yes:\n%s", out)
		}
		if n := len(e.Instances(cluster)); n != 5 {
			t.Fatalf("delete without --yes changed the cloud: %d instances", n)
		}
		e.Must("delete", "cluster", cluster, "--yes")
		sum := sha256.Sum256([]byte(cluster))
		marks := []string{e.CloudDir, cluster, "hb" + hex.EncodeToString(sum[:])[:8]}
		for _, id := range ids {
			marks = append(marks, id, "hv"+strings.TrimPrefix(id, "i-"))
		}
		if left := harness.Leftovers(marks...); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("machine process %d still alive", pid)
			}
		}
		e.Fails([]string{"not found"}, "get", "clusters", cluster)
	})
}
