package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/tests/harness"
)

const webImage = "docker.io/library/hull-e2e-web:v1"

// webWorkload pulls its image (imagePullPolicy Always: from the registry,
// never from a node's own store) by its docker.io name, which only the
// local cloud's registry, every host's mirror, can serve here.
const webWorkload = `apiVersion: apps/v1
kind: Deployment
metadata: {name: hull-e2e-web}
spec:
  replicas: 2
  selector: {matchLabels: {app: hull-e2e-web}}
  template:
    metadata: {labels: {app: hull-e2e-web}}
    spec:
      containers:
      - {name: web, image: ` + webImage + `, imagePullPolicy: Always, ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hull-e2e-web}
spec:
  selector: {app: hull-e2e-web}
  ports: [{port: 80, targetPort: 8080}]
`

// loadedImageServes builds a tiny image (the e2e probe binary as its one
// layer), loads it with `hull image load`, runs it as a Deployment behind
// a Service and fetches from it through the Service.
func loadedImageServes(t *testing.T, e *harness.Env, cl *local.Client, k *kubectl, name string, insts []harness.Instance) {
	tarball := filepath.Join(e.Dir, "web.tar")
	if err := harness.BuildImage(probeBin, "web", webImage, tarball); err != nil {
		t.Fatal(err)
	}
	out := e.Must("image", "load", name, tarball)
	if !strings.Contains(out, webImage+": sent") || !strings.Contains(out, "sha256:") {
		t.Errorf("image load printed:\n%s", out)
	}

	// containerd's registry hosts are the machine's own, not the host's.
	for _, in := range insts {
		info, err := cl.Machine(context.Background(), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		hosts, err := os.ReadFile(filepath.Join(info.RootDir, "etc/containerd/certs.d/_default/hosts.toml"))
		if err != nil || !strings.Contains(string(hosts), fmt.Sprintf(":%d", local.RegistryPort)) {
			t.Errorf("machine %s: hosts.toml %q (%v); want the local registry as mirror", in.ID, hosts, err)
		}
	}

	manifest := filepath.Join(e.Dir, "web.yaml")
	if err := os.WriteFile(manifest, []byte(webWorkload), 0o600); err != nil {
		t.Fatal(err)
	}
	k.must("apply", "-f", manifest)
	k.must("rollout", "status", "deployment/hull-e2e-web", "--timeout", "3m")
	fetch := func(what string) {
		// From another pod: the probe Deployment's, or else the web's own.
		client, bin := "deploy/probe", "/probe"
		if _, err := k.run("get", client); err != nil {
			client, bin = "deploy/hull-e2e-web", "/web"
		}
		harness.Eventually(t, 60*time.Second, what, func() error {
			out, err := k.run("exec", client, "--", bin, "-get", "http://hull-e2e-web.default.svc.cluster.local/")
			if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "hull-e2e-web-") {
				return fmt.Errorf("GET through the Service from %s: %q (%v)", client, out, err)
			}
			return nil
		})
	}
	fetch("the loaded image to answer through its Service")

	// The registry's data outlives the daemon: stop it, let a command
	// start it again, and make every pod pull the image anew.
	ctx := context.Background()
	if err := cl.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.Must("image", "load", name, tarball)
	k.must("rollout", "restart", "deployment/hull-e2e-web")
	k.must("rollout", "status", "deployment/hull-e2e-web", "--timeout", "3m")
	fetch("pods pulled after a daemon restart to answer")
	k.must("delete", "-f", manifest)
}
