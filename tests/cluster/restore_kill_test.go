package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/nodeup/etcdmanager"
	"github.com/hullproject/hull/nodeup/localnode"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
)

// setBackupInterval sets spec.etcdClusters[].backups.interval of every
// etcd cluster the way a user would: get the spec as JSON, edit, replace.
func setBackupInterval(t *testing.T, e *harness.Env, name string, d time.Duration) {
	t.Helper()
	var c v1alpha1.Cluster
	if err := json.Unmarshal([]byte(e.Must("get", "clusters", name, "-o", "json")), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Spec.EtcdClusters) == 0 {
		t.Fatalf("cluster %s lists no etcd clusters", name)
	}
	for i := range c.Spec.EtcdClusters {
		ec := &c.Spec.EtcdClusters[i]
		if ec.Backups == nil {
			ec.Backups = &v1alpha1.EtcdBackupSpec{}
		}
		ec.Backups.Interval = &metav1.Duration{Duration: d}
	}
	data, err := yaml.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(e.Dir, "cluster.yaml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.Must("replace", "-f", f)
}

// killCoordinatorMidRestore restores main and events from a fresh backup
// and, while main's members are stopped or being replaced, kills the
// machine of main's coordinator (its nodeup, which runs the etcd
// managers, with SIGKILL). Each restore must end: Succeeded, or Failed
// after rolling back, as its command says; the CLI must say the same; a
// ConfigMap written after the backup must be gone or kept to match; and
// afterwards every member of main and events runs, none parked, and the
// cluster validates.
func killCoordinatorMidRestore(t *testing.T, e *harness.Env, cl *local.Client, k *kubectl, name string, controlPlanes func() []harness.Instance) {
	ctx := context.Background()
	store, err := state.Open(ctx, e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bk := strings.TrimSpace(e.Must("backup", "create", name))
	k.must("create", "configmap", "after-restore-backup", "--from-literal=v=1")

	rctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	restore := e.Command(rctx, "backup", "restore", name, bk, "--yes", "--wait", "15m", "--validation-timeout", "10m")
	var stdout, stderr strings.Builder
	restore.Stdout, restore.Stderr = &stdout, &stderr
	start := time.Now()
	if err := restore.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- restore.Wait() }()

	// Kill when main's etcd is stopped everywhere and the coordinator
	// restores it or has the others join: the most it can leave broken.
	ids := map[string]string{}
	var cmd *control.Restore
	harness.Eventually(t, 3*time.Minute, "main's restore to reach Restoring or Joining", func() error {
		for _, etcd := range []string{"main", "events"} {
			cmds, _, err := control.ListRestores(ctx, store, name, etcd)
			if err != nil {
				return err
			}
			for _, c := range cmds {
				ids[etcd] = c.ID
				if etcd == "main" && (c.Phase == control.Restoring || c.Phase == control.Joining) {
					cmd = c
				}
			}
		}
		if cmd == nil {
			return fmt.Errorf("main's restore is not under way yet (%v)", ids)
		}
		return nil
	})
	coordinator := cmd.Member(cmd.Coordinator)
	if coordinator == nil {
		t.Fatalf("restore %s: coordinator %q is none of its members %+v", cmd.ID, cmd.Coordinator, cmd.Members)
	}
	var victim harness.Instance
	for _, in := range controlPlanes() {
		if strings.Contains(coordinator.PeerURL, "//"+in.Address+":") {
			victim = in
		}
	}
	if victim.ID == "" {
		t.Fatalf("no control-plane machine has the coordinator's peer URL %s", coordinator.PeerURL)
	}
	info, err := cl.Machine(ctx, victim.ID)
	if err != nil || info.Machine == nil {
		t.Fatalf("machine %s: %v", victim.ID, err)
	}
	if err := syscall.Kill(info.Machine.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("killed %s, coordinator %s of restore %s, in phase %s, %s after the restore started",
		victim.ID, cmd.Coordinator, cmd.ID, cmd.Phase, killed.Sub(start).Round(100*time.Millisecond))

	var runErr error
	select {
	case runErr = <-exited:
	case <-rctx.Done():
		t.Fatalf("backup restore did not end within 20 minutes:\n%s", stderr.String())
	}
	ended := time.Since(killed)
	t.Logf("backup restore ended %s after the kill (%v):\n%s%s", ended.Round(time.Second), runErr, stdout.String(), stderr.String())

	outcome := map[string]*control.Restore{}
	for etcd, id := range ids {
		r, err := control.GetRestore(ctx, store, name, etcd, id)
		if err != nil {
			t.Fatal(err)
		}
		outcome[etcd] = r
		if !r.Phase.Final() {
			t.Errorf("etcd %s: restore %s is still %s after the command ended", etcd, id, r.Phase)
			continue
		}
		// Once anything was stopped, a failure goes through a roll-back.
		stopped := slices.ContainsFunc(r.Steps, func(s control.Step) bool { return s.Phase != control.Pending })
		if r.Phase == control.Failed && stopped && !slices.ContainsFunc(r.Steps, func(s control.Step) bool { return s.Phase == control.RollingBack }) {
			t.Errorf("etcd %s: restore %s failed without rolling back:\n%s", etcd, id, stepsOf(r))
		}
	}
	mainR := outcome["main"]
	if mainR == nil || outcome["events"] == nil {
		t.Fatalf("restore commands seen: %v; want one for main and one for events", ids)
	}
	t.Logf("FIGURE restore with its coordinator killed during %s: main %s, events %s; the command ended %s after the kill (step timeout %s)",
		cmd.Phase, mainR.Phase, outcome["events"].Phase, ended.Round(time.Second), localnode.EtcdStepTimeout)
	for _, etcd := range []string{"main", "events"} {
		t.Logf("etcd %s restore %s:\n%s", etcd, outcome[etcd].ID, stepsOf(outcome[etcd]))
	}
	failed := mainR.Phase == control.Failed || outcome["events"].Phase == control.Failed
	switch {
	case failed && (runErr == nil || !strings.Contains(stderr.String(), "restore failed")):
		t.Errorf("a restore failed, but the command (%v) does not say so:\n%s", runErr, stderr.String())
	case !failed && runErr != nil:
		t.Errorf("both restores succeeded, but the command failed: %v", runErr)
	}

	// A failed restore stays in the control directory until every member
	// rolled back: the dead coordinator's replacement does its part.
	harness.Eventually(t, 5*time.Minute, "every restore command to be settled and archived", func() error {
		for _, etcd := range []string{"main", "events"} {
			cmds, _, err := control.ListRestores(ctx, store, name, etcd)
			if err != nil {
				return err
			}
			for _, c := range cmds {
				return fmt.Errorf("etcd %s: restore %s is %s, members %s still owe a roll-back", etcd, c.ID, c.Phase, strings.Join(c.Unsettled(), ", "))
			}
		}
		return nil
	})
	e.WaitInstances(name, 5*time.Minute, "the coordinator's machine replaced", func(in []harness.Instance) bool {
		n := 0
		for _, i := range in {
			if i.Role == "ControlPlane" && i.State == "Running" && i.ID != victim.ID {
				n++
			}
		}
		return n == 3
	})
	e.Must("validate", "cluster", name, "--wait", "10m")
	cps := controlPlanes()
	etcdHealthy(t, e, cl, name, cps)
	for _, in := range cps {
		mi, err := cl.Machine(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if parked, _ := filepath.Glob(filepath.Join(mi.RootDir, etcdmanager.ParkedDir, "*")); len(parked) > 0 {
			t.Errorf("machine %s still has stopped components: %v", in.ID, parked)
		}
	}
	out, err := k.run("get", "configmap", "after-restore-backup", "-o", "jsonpath={.data.v}")
	switch {
	case mainR.Phase == control.Succeeded && (err == nil || !strings.Contains(out, "NotFound")):
		t.Errorf("main was restored, yet the ConfigMap written after the backup is still there: %q, %v", out, err)
	case mainR.Phase == control.Failed && (err != nil || out != "1"):
		t.Errorf("main rolled back, yet the ConfigMap written after the backup is gone: %q, %v", out, err)
	}
	checkBackupsComplete(t, e, name)
}

func stepsOf(r *control.Restore) string {
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "%s %s: %s\n", s.Time.Format("15:04:05"), s.Phase, s.Message)
	}
	return b.String()
}
