package cluster

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certutil "k8s.io/client-go/util/cert"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
)

const version = "1.37.2"

const workload = `apiVersion: apps/v1
kind: Deployment
metadata: {name: probe}
spec:
  replicas: 4
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: probe}}}
      containers:
      - {name: probe, image: hull.local/e2e-probe:v1, imagePullPolicy: Never, ports: [{containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: probe}
spec:
  selector: {app: probe}
  ports: [{port: 80, targetPort: 8080}]
`

// TestOneControlPlaneCluster is the real thing: create, update --yes,
// validate, then use the cluster with stock kubectl.
func TestOneControlPlaneCluster(t *testing.T) {
	harness.RequireRoot(t)
	e := harness.NewEnv(t, hullBin)
	const name = "e2e.cluster.example.com"
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("create", "cluster", name, "--kubernetes-version", version, "--network-cidr", "10.216.0.0/16", "--node-count", "2")

	start := time.Now()
	e.Must("update", "cluster", name, "--yes")
	out := e.Must("validate", "cluster", name, "--wait", "5m")
	t.Logf("FIGURE create-to-validated 1cp+2nodes baked: %s", time.Since(start).Round(100*time.Millisecond))
	if !strings.Contains(out, "Your cluster "+name+" is ready") {
		t.Fatalf("validate:\n%s", out)
	}

	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	kbin := kubectlBinary(t, version)
	// Each (sub)test gets a kubectl bound to its own t: Fatal must come
	// from the goroutine of the test it fails.
	kube := func(t *testing.T) *kubectl { return &kubectl{t: t, bin: kbin, kubeconfig: kcfg} }

	t.Run("kubectl sees three Ready nodes at the requested version", func(t *testing.T) {
		k := kube(t)
		var nodes struct {
			Items []struct {
				Metadata struct{ Name string }
				Status   struct {
					NodeInfo   struct{ KubeletVersion string }
					Conditions []struct{ Type, Status string }
				}
			}
		}
		k.json(&nodes, "get", "nodes")
		if len(nodes.Items) != 3 {
			t.Fatalf("%d nodes", len(nodes.Items))
		}
		for _, n := range nodes.Items {
			ready := slices.ContainsFunc(n.Status.Conditions, func(c struct{ Type, Status string }) bool { return c.Type == "Ready" && c.Status == "True" })
			if !ready || n.Status.NodeInfo.KubeletVersion != "v"+version {
				t.Errorf("node %s: ready=%v version=%s", n.Metadata.Name, ready, n.Status.NodeInfo.KubeletVersion)
			}
		}
		if v := k.must("version"); !strings.Contains(v, "Server Version: v"+version) {
			t.Errorf("kubectl version:\n%s", v)
		}
	})

	ctx := context.Background()
	cl, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	insts := e.Instances(name)

	t.Run("a Deployment runs across both workers and its Service resolves through CoreDNS", func(t *testing.T) {
		k := kube(t)
		tarball := filepath.Join(e.Dir, "probe.tar")
		if err := harness.BuildImage(probeBin, "probe", "hull.local/e2e-probe:v1", tarball); err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			info, err := cl.Machine(ctx, in.ID)
			if err != nil || info.Machine == nil {
				t.Fatalf("machine %s: %v", in.ID, err)
			}
			cmd := sandbox.ExecIn(ctx, info.Machine, "/opt/hull/image/assets/bin/ctr", "-a", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "import", tarball)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("import probe image on %s: %v\n%s", in.ID, err, out)
			}
		}
		manifest := filepath.Join(e.Dir, "workload.yaml")
		if err := os.WriteFile(manifest, []byte(workload), 0o600); err != nil {
			t.Fatal(err)
		}
		k.must("apply", "-f", manifest)
		k.must("rollout", "status", "deployment/probe", "--timeout", "3m")

		var pods struct {
			Items []struct {
				Spec   struct{ NodeName string }
				Status struct{ Phase string }
			}
		}
		k.json(&pods, "get", "pods", "-l", "app=probe")
		perNode := map[string]int{}
		for _, p := range pods.Items {
			if p.Status.Phase == "Running" {
				perNode[p.Spec.NodeName]++
			}
		}
		workers := 0
		for _, in := range insts {
			if in.Role == "Node" && perNode[in.ID] > 0 {
				workers++
			}
		}
		if len(pods.Items) != 4 || workers != 2 {
			t.Errorf("want 4 running pods across both workers, got %v", perNode)
		}

		clusterIP := strings.TrimSpace(k.must("get", "service", "probe", "-o", "jsonpath={.spec.clusterIP}"))
		harness.Eventually(t, 60*time.Second, "the Service to resolve through CoreDNS", func() error {
			out, err := k.run("exec", "deploy/probe", "--", "/probe", "-resolve", "probe.default.svc.cluster.local")
			if err != nil || strings.TrimSpace(out) != clusterIP {
				return fmt.Errorf("resolved %q (%v), want %s", strings.TrimSpace(out), err, clusterIP)
			}
			return nil
		})
		// Through kube-proxy to some pod, possibly on the other worker.
		harness.Eventually(t, 60*time.Second, "the Service to answer", func() error {
			out, err := k.run("exec", "deploy/probe", "--", "/probe", "-get", "http://probe.default.svc.cluster.local/")
			if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "probe-") {
				return fmt.Errorf("GET through the Service: %q (%v)", out, err)
			}
			return nil
		})
	})

	t.Run("an image loaded with hull image load runs by its docker.io name behind a Service", func(t *testing.T) {
		loadedImageServes(t, e, cl, kube(t), name, insts)
	})

	logComponentRSS(t)

	t.Run("component certificates chain to the right CA with the right identity", func(t *testing.T) {
		checkCertificates(t, e, cl, name, insts)
	})

	t.Run("an etcd restore brings back ConfigMap A and drops B", func(t *testing.T) {
		backupRestoreRoundTrip(t, e, kube(t), name)
	})

	t.Run("after losing every machine, update --yes brings the cluster back", func(t *testing.T) {
		recoverFromLosingEveryMachine(t, e, cl, kube(t), name)
	})

	t.Run("delete leaves nothing behind", func(t *testing.T) {
		var pids []int
		marks := []string{e.CloudDir, name, bridgeName(name)}
		for _, in := range e.Instances(name) {
			marks = append(marks, in.ID, "hv"+strings.TrimPrefix(in.ID, "i-"))
			if info, err := cl.Machine(ctx, in.ID); err == nil && info.Machine != nil {
				pids = append(pids, info.Machine.PID)
			}
		}
		e.Must("delete", "cluster", name, "--yes")
		if left := harness.Leftovers(marks...); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
		for _, pid := range pids {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				t.Errorf("machine process %d still alive", pid)
			}
		}
	})
}

func bridgeName(cluster string) string {
	sum := sha256.Sum256([]byte(cluster))
	return "hb" + hex.EncodeToString(sum[:])[:8]
}

// checkCertificates verifies each component certificate on the machines
// against the cluster's CAs from the state store, and that etcd refuses a
// certificate from the Kubernetes CA.
func checkCertificates(t *testing.T, e *harness.Env, cl *local.Client, cluster string, insts []harness.Instance) {
	ctx := context.Background()
	store, err := state.Open(ctx, e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sets, err := registry.New(store).ListKeysets(ctx, cluster)
	if err != nil {
		t.Fatal(err)
	}
	cas := map[string]*x509.Certificate{}
	for _, ks := range sets {
		if ks.Primary.Certificate != nil {
			cas[ks.Name] = ks.Primary.Certificate
		}
	}
	type want struct {
		file, ca, cn, org string
		usage             x509.ExtKeyUsage
	}
	var cp harness.Instance
	for _, in := range insts {
		if in.Role == "ControlPlane" {
			cp = in
		}
	}
	cpInfo, err := cl.Machine(ctx, cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	wants := []want{
		{"etc/kubernetes/pki/apiserver.crt", pki.KubernetesCA, "", "", x509.ExtKeyUsageServerAuth},
		{"etc/kubernetes/pki/apiserver-kubelet-client.crt", pki.KubernetesCA, "", "system:masters", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/controller-manager.crt", pki.KubernetesCA, "system:kube-controller-manager", "", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/scheduler.crt", pki.KubernetesCA, "system:kube-scheduler", "", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/kubelet-client.crt", pki.KubernetesCA, "system:node:" + cp.ID, "system:nodes", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/front-proxy-client.crt", pki.FrontProxyCA, "", "", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/apiserver-etcd-client-main.crt", pki.EtcdClientsCA("main"), "", "", x509.ExtKeyUsageClientAuth},
		{"etc/kubernetes/pki/etcd/main/server.crt", pki.EtcdClientsCA("main"), "", "", x509.ExtKeyUsageServerAuth},
		{"etc/kubernetes/pki/etcd/main/peer.crt", pki.EtcdPeersCA("main"), "", "", x509.ExtKeyUsageServerAuth},
		{"etc/kubernetes/pki/etcd/events/peer.crt", pki.EtcdPeersCA("events"), "", "", x509.ExtKeyUsageServerAuth},
	}
	check := func(root string, w want) {
		t.Helper()
		cert := readCert(t, inRoot(t, root, w.file))
		for name, ca := range cas {
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			_, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{w.usage}})
			if name == w.ca && err != nil {
				t.Errorf("%s does not chain to %s: %v", w.file, name, err)
			}
			if name != w.ca && err == nil {
				t.Errorf("%s also verifies against %s: CAs are not separate", w.file, name)
			}
		}
		if w.cn != "" && cert.Subject.CommonName != w.cn {
			t.Errorf("%s: CN %q, want %q", w.file, cert.Subject.CommonName, w.cn)
		}
		if w.org != "" && !slices.Contains(cert.Subject.Organization, w.org) {
			t.Errorf("%s: O %v, want %s", w.file, cert.Subject.Organization, w.org)
		}
	}
	for _, w := range wants {
		check(cpInfo.RootDir, w)
	}
	api := readCert(t, filepath.Join(cpInfo.RootDir, "etc/kubernetes/pki/apiserver.crt"))
	for _, san := range []string{"kubernetes.default.svc", "api." + cluster} {
		if !slices.Contains(api.DNSNames, san) {
			t.Errorf("apiserver certificate lacks SAN %s: %v", san, api.DNSNames)
		}
	}
	// Workers got their kubelet client certificate through TLS bootstrap:
	// signed by the controller-manager with the Kubernetes CA, no CA key on
	// the machine.
	for _, in := range insts {
		if in.Role != "Node" {
			continue
		}
		info, err := cl.Machine(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		check(info.RootDir, want{"var/lib/kubelet/pki/kubelet-client-current.pem", pki.KubernetesCA, "system:node:" + in.ID, "system:nodes", x509.ExtKeyUsageClientAuth})
		if _, err := os.Stat(filepath.Join(info.RootDir, "etc/kubernetes/pki/ca.key")); err == nil {
			t.Errorf("worker %s holds the CA private key", in.ID)
		}
	}

	// etcd answers its own clients and refuses a Kubernetes-CA certificate.
	etcdCA := x509.NewCertPool()
	etcdCA.AddCert(cas[pki.EtcdClientsCA("main")])
	get := func(certFile, keyFile string) error {
		cert, err := tls.LoadX509KeyPair(filepath.Join(cpInfo.RootDir, certFile), filepath.Join(cpInfo.RootDir, keyFile))
		if err != nil {
			return err
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: etcdCA, Certificates: []tls.Certificate{cert}, ServerName: cp.Address}}}
		resp, err := c.Get("https://" + cp.Address + ":2379/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	if err := get("etc/kubernetes/pki/apiserver-etcd-client-main.crt", "etc/kubernetes/pki/apiserver-etcd-client-main.key"); err != nil {
		t.Errorf("etcd refused the apiserver's etcd client certificate: %v", err)
	}
	if err := get("etc/kubernetes/pki/admin.crt", "etc/kubernetes/pki/admin.key"); err == nil {
		t.Error("etcd accepted a certificate from the Kubernetes CA")
	}
}

// inRoot resolves a machine path against the machine's root directory,
// following symlinks as the machine sees them (the kubelet's current
// certificate is an absolute symlink).
func inRoot(t *testing.T, root, rel string) string {
	t.Helper()
	p := filepath.Join(root, rel)
	for i := 0; i < 8; i++ {
		target, err := os.Readlink(p)
		if err != nil {
			return p
		}
		if filepath.IsAbs(target) {
			p = filepath.Join(root, target)
		} else {
			p = filepath.Join(filepath.Dir(p), target)
		}
	}
	t.Fatalf("%s: too many symlinks", rel)
	return ""
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return certs[0]
}
