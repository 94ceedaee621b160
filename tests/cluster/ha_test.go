package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
)

// TestHAControlPlane: three control-plane machines behind the API load
// balancer; losing one keeps the API answering, and its replacement
// rejoins etcd; etcd restores across three members; the backup leader dies
// mid-backup, and the restore coordinator mid-restore; then every control
// plane is rolled, the roll killed at every step, while the API is in use.
func TestHAControlPlane(t *testing.T) {
	harness.RequireRoot(t)
	if testing.Short() {
		t.Skip("slow: three control planes")
	}
	e := harness.NewEnv(t, hullBin)
	const name = "ha.cluster.example.com"
	e.Must("image", "build", "--kubernetes-version", version)
	e.Must("create", "cluster", name, "--kubernetes-version", version, "--network-cidr", "10.217.0.0/16",
		"--control-plane-count", "3", "--zones", "local-a,local-b,local-c", "--node-count", "1")
	// The shortest interval allowed, so the test sees scheduled backups.
	const backupInterval = time.Minute
	setBackupInterval(t, e, name, backupInterval)
	start := time.Now()
	e.Must("update", "cluster", name, "--yes")
	e.Must("validate", "cluster", name, "--wait", "10m")
	t.Logf("FIGURE create-to-validated 3cp+1node baked: %s", time.Since(start).Round(100*time.Millisecond))

	kcfg := filepath.Join(e.Dir, "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kcfg)
	k := &kubectl{t: t, bin: kubectlBinary(t, version), kubeconfig: kcfg}
	ctx := context.Background()
	cl, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// A client hits the API through the load balancer every 100 ms while a
	// control-plane machine dies.
	var ok, failed, failedTwice atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		prevFailed := false
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := k.run("get", "--raw", "/readyz", "--request-timeout", "2s"); err != nil {
				failed.Add(1)
				if prevFailed {
					failedTwice.Add(1)
				}
				prevFailed = true
				continue
			}
			ok.Add(1)
			prevFailed = false
		}
	}()

	var victim harness.Instance
	for _, in := range e.Instances(name) {
		if in.Group == "control-plane-a" {
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
	var replacement harness.Instance
	e.WaitInstances(name, 3*time.Minute, "control-plane-a replaced", func(in []harness.Instance) bool {
		for _, i := range in {
			if i.Group == "control-plane-a" && i.ID != victim.ID && i.State == "Running" {
				replacement = i
				return true
			}
		}
		return false
	})
	e.Must("validate", "cluster", name, "--wait", "10m")
	close(stop)
	<-done
	t.Logf("FIGURE API through the LB while a control plane died: %d ok, %d failed, %d failed twice in a row", ok.Load(), failed.Load(), failedTwice.Load())
	if ok.Load() == 0 {
		t.Error("the API never answered through the load balancer")
	}

	t.Run("the replacement rejoined etcd", func(t *testing.T) {
		members := etcdMembers(t, e, cl, name, replacement)
		if len(members) != 3 {
			t.Fatalf("etcd main has %d members: %+v", len(members), members)
		}
		var found bool
		for _, m := range members {
			if slices.ContainsFunc(m.PeerURLs, func(u string) bool { return strings.Contains(u, replacement.Address+":") }) {
				found = true
			}
			if m.Name == "" {
				t.Errorf("member %x has not started", m.ID)
			}
		}
		if !found {
			t.Errorf("no etcd member at the replacement's address %s: %+v", replacement.Address, members)
		}
	})

	controlPlanes := func() []harness.Instance {
		var cps []harness.Instance
		for _, in := range e.Instances(name) {
			if in.Role == "ControlPlane" && in.State == "Running" {
				cps = append(cps, in)
			}
		}
		return cps
	}
	t.Run("an etcd restore across three members brings back A and drops B", func(t *testing.T) {
		before := etcdHealthy(t, e, cl, name, controlPlanes())
		backupRestoreRoundTrip(t, e, &kubectl{t: t, bin: k.bin, kubeconfig: kcfg}, name)
		after := etcdHealthy(t, e, cl, name, controlPlanes())
		for _, etcd := range []string{"main", "events"} {
			if after[etcd] == before[etcd] {
				t.Errorf("etcd %s kept its cluster id %x through the restore; a restore forms a new cluster", etcd, after[etcd])
			}
		}
	})
	t.Run("killing the backup leader mid-backup lists no partial backup; backups resume on another member", func(t *testing.T) {
		killLeaderMidBackup(t, e, cl, name, controlPlanes(), backupInterval)
		e.Must("validate", "cluster", name, "--wait", "10m")
		etcdHealthy(t, e, cl, name, controlPlanes())
	})
	t.Run("killing the restore coordinator mid-restore completes or rolls back the restore", func(t *testing.T) {
		killCoordinatorMidRestore(t, e, cl, &kubectl{t: t, bin: k.bin, kubeconfig: kcfg}, name, controlPlanes)
	})
	t.Run("rolling the three control planes one at a time keeps the API answering", func(t *testing.T) {
		rollControlPlanes(t, e, cl, name, kcfg)
	})
}

type etcdMember struct {
	ID       uint64
	Name     string
	PeerURLs []string
}

// etcdMembers lists etcd main's members with the etcd client, through the
// replacement machine's member, as the apiserver's etcd client.
func etcdMembers(t *testing.T, e *harness.Env, cl *local.Client, cluster string, on harness.Instance) []etcdMember {
	t.Helper()
	c := etcdClient(t, e, cl, cluster, "main", on)
	var out []etcdMember
	harness.Eventually(t, 2*time.Minute, "etcd on the replacement to answer", func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.MemberList(cctx)
		if err != nil {
			return err
		}
		out = nil
		for _, m := range resp.Members {
			out = append(out, etcdMember{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs})
		}
		return nil
	})
	return out
}

// etcdClientPorts are the client ports of the etcd clusters (cloudup's).
var etcdClientPorts = map[string]int{"main": 2379, "events": 2382}

// etcdClient reaches etcd cluster etcd (main or events) through the member
// on machine on, as the apiserver's etcd client for that cluster (its
// certificate from the machine's disk, that cluster's own CA).
func etcdClient(t *testing.T, e *harness.Env, cl *local.Client, cluster, etcd string, on harness.Instance) *clientv3.Client {
	t.Helper()
	ctx := context.Background()
	store, err := state.Open(ctx, e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ca, err := registry.New(store).GetPrivateKeyset(ctx, cluster, pki.EtcdClientsCA(etcd))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Machine(ctx, on.ID)
	if err != nil {
		t.Fatal(err)
	}
	port, ok := etcdClientPorts[etcd]
	if !ok {
		t.Fatalf("no client port known for etcd %s", etcd)
	}
	pair := "etc/kubernetes/pki/apiserver-etcd-client-" + etcd
	cert, err := tls.LoadX509KeyPair(filepath.Join(info.RootDir, pair+".crt"), filepath.Join(info.RootDir, pair+".key"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Primary.Certificate)
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("https://%s:%d", on.Address, port)},
		TLS:         &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
