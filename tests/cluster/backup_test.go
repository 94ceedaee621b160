package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hullproject/hull/cloudup/local"
	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/etcd/restore"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/harness"
)

// listBackups is `hull backup list -o json`, as a user scripts it.
func listBackups(t *testing.T, e *harness.Env, name, etcd string) []backup.Info {
	t.Helper()
	var out []backup.Info
	if err := json.Unmarshal([]byte(e.Must("backup", "list", name, "--etcd", etcd, "-o", "json")), &out); err != nil {
		t.Fatalf("backup list -o json: %v", err)
	}
	return out
}

// checkBackupsComplete verifies every listed backup against its meta: a
// listed backup must never be a partial one.
func checkBackupsComplete(t *testing.T, e *harness.Env, name string) {
	t.Helper()
	ctx := context.Background()
	store, err := state.Open(ctx, e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, etcd := range []string{"main", "events"} {
		for _, b := range listBackups(t, e, name, etcd) {
			if err := restore.Check(ctx, store, name, etcd, b); err != nil {
				t.Errorf("listed backup %s of etcd %s does not verify: %v", b.Name, etcd, err)
			}
		}
	}
}

// waitFirstBackups: a manager that leads takes a backup at once when
// there is none, for main and for events.
func waitFirstBackups(t *testing.T, e *harness.Env, name string) {
	t.Helper()
	harness.Eventually(t, 3*time.Minute, "the etcd managers to take their first scheduled backups", func() error {
		for _, etcd := range []string{"main", "events"} {
			if len(listBackups(t, e, name, etcd)) == 0 {
				return fmt.Errorf("no backup of etcd %s yet", etcd)
			}
		}
		return nil
	})
}

// backupRestoreRoundTrip is the scenario: ConfigMap A, backup,
// ConfigMap B, delete A, restore: A is back, B is gone, the cluster
// validates, and the managers took a fresh backup of the restored data.
func backupRestoreRoundTrip(t *testing.T, e *harness.Env, k *kubectl, name string) {
	waitFirstBackups(t, e, name)
	k.must("create", "configmap", "backup-a", "--from-literal=v=a")
	bk := strings.TrimSpace(e.Must("backup", "create", name))
	if !slices.ContainsFunc(listBackups(t, e, name, "main"), func(b backup.Info) bool { return b.Name == bk }) {
		t.Fatalf("backup create printed %q, which backup list does not show", bk)
	}
	k.must("create", "configmap", "backup-b", "--from-literal=v=b")
	k.must("delete", "configmap", "backup-a")

	plan := e.Must("backup", "restore", name, bk)
	for _, want := range []string{"etcd main: restore backup " + bk, "etcd events: restore backup", "LOSE every object", "Nothing was changed"} {
		if !strings.Contains(plan, want) {
			t.Errorf("restore without --yes lacks %q:\n%s", want, plan)
		}
	}
	start := time.Now()
	r := e.Run("backup", "restore", name, bk, "--yes", "--wait", "10m", "--validation-timeout", "10m")
	t.Logf("FIGURE backup restore (main+events) to validated: %s", time.Since(start).Round(100*time.Millisecond))
	t.Logf("restore progress:\n%s", r.Stderr)
	if r.Code != 0 {
		t.Fatalf("backup restore --yes: exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, want := range []string{"etcd main: every member stopped etcd", "etcd events:", "fresh backup", "Restore complete"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("restore progress lacks %q:\n%s", want, r.Stderr)
		}
	}
	if !strings.Contains(r.Stdout, "Your cluster "+name+" is ready") {
		t.Errorf("restore did not end with a valid cluster:\n%s", r.Stdout)
	}
	if out, err := k.run("get", "configmap", "backup-a", "-o", "jsonpath={.data.v}"); err != nil || out != "a" {
		t.Errorf("ConfigMap backup-a after the restore: %q, %v; want it back", out, err)
	}
	if out, err := k.run("get", "configmap", "backup-b"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("ConfigMap backup-b survived the restore: %q, %v", out, err)
	}
	list := listBackups(t, e, name, "main")
	if len(list) == 0 || list[0].Name == bk || list[0].Time.Before(start.Truncate(time.Second)) {
		t.Errorf("no fresh backup after the restore; newest: %+v", list[:min(1, len(list))])
	}
	checkBackupsComplete(t, e, name)
}

// etcdHealthy checks that every member of etcd main and of etcd events
// answers a linearizable read on its own endpoint, that all are started,
// and that the members of each agree on its cluster id, which it returns
// by etcd cluster.
func etcdHealthy(t *testing.T, e *harness.Env, cl *local.Client, name string, cps []harness.Instance) map[string]uint64 {
	t.Helper()
	ids := map[string]uint64{}
	for _, etcd := range []string{"main", "events"} {
		for _, on := range cps {
			c := etcdClient(t, e, cl, name, etcd, on)
			var id uint64
			harness.Eventually(t, 2*time.Minute, "etcd "+etcd+" member on "+on.ID+" to be healthy", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				ms, err := c.MemberList(ctx)
				if err != nil {
					return err
				}
				if len(ms.Members) != len(cps) {
					return fmt.Errorf("%d members, want %d", len(ms.Members), len(cps))
				}
				for _, m := range ms.Members {
					if m.Name == "" {
						return fmt.Errorf("member %x has not started", m.ID)
					}
				}
				resp, err := c.Get(ctx, "health")
				if err != nil {
					return err
				}
				id = resp.Header.ClusterId
				return nil
			})
			if prev, ok := ids[etcd]; ok && prev != id {
				t.Errorf("etcd %s member on %s is in cluster %x, the others in %x", etcd, on.ID, id, prev)
			}
			ids[etcd] = id
		}
	}
	return ids
}

// killLeaderMidBackup fills etcd main so a backup takes seconds, asks for
// one, kills the backup leader's machine while it streams, and checks
// that no partial backup is listed, that another member takes the
// requested backup, and that scheduled backups resume on another member
// within one backup interval. It leaves etcd main compacted and
// defragmented, so later backups are small again.
func killLeaderMidBackup(t *testing.T, e *harness.Env, cl *local.Client, name string, cps []harness.Instance, interval time.Duration) {
	ctx := context.Background()
	c := etcdClient(t, e, cl, name, "main", cps[0])
	// Random values do not compress: the snapshot streams ~200 MB.
	val := make([]byte, 1<<20)
	for i := range 200 {
		_, _ = rand.Read(val)
		if _, err := c.Put(ctx, fmt.Sprintf("/hull-e2e/fill/%03d", i), string(val)); err != nil {
			t.Fatalf("fill etcd: %v", err)
		}
	}
	resp, err := c.Get(ctx, manager.ElectionKey(name, "main")+"/", clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("backup leader of etcd main: %v (%d keys)", err, len(resp.Kvs))
	}
	leader := string(resp.Kvs[0].Value)
	var victim harness.Instance
	members, err := c.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members.Members {
		for _, in := range cps {
			if m.Name == leader && slices.ContainsFunc(m.PeerURLs, func(u string) bool { return strings.Contains(u, "//"+in.Address+":") }) {
				victim = in
			}
		}
	}
	if victim.ID == "" {
		t.Fatalf("no machine runs the backup leader %s", leader)
	}
	var survivors []harness.Instance
	for _, in := range cps {
		if in.ID != victim.ID {
			survivors = append(survivors, in)
		}
	}
	c = etcdClient(t, e, cl, name, "main", survivors[0]) // one that survives the kill
	info, err := cl.Machine(ctx, victim.ID)
	if err != nil || info.Machine == nil {
		t.Fatalf("machine %s: %v", victim.ID, err)
	}
	logStart := fileSize(t, info.LogPath)
	before := listBackups(t, e, name, "main")

	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	create := e.Command(bctx, "backup", "create", name, "--wait", "4m")
	var stdout strings.Builder
	create.Stdout = &stdout
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	// The leader logs the request, then streams the snapshot. (A
	// scheduled backup may run before it: the interval is short.)
	requested := regexp.MustCompile(`msg="backup requested".* etcd=main `)
	var served int
	harness.Eventually(t, time.Minute, "the leader to start the requested backup", func() error {
		loc := requested.FindStringIndex(readFrom(t, info.LogPath, logStart))
		if loc == nil {
			return fmt.Errorf("not yet")
		}
		served = loc[1]
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(info.Machine.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	log := readFrom(t, info.LogPath, logStart)
	if regexp.MustCompile(`msg="took etcd backup".* etcd=main `).MatchString(log[served:]) {
		t.Fatal("the backup finished before the kill; the test needs more data in etcd")
	}
	t.Logf("killed %s (backup leader %s) mid-backup", victim.ID, leader)
	checkBackupsComplete(t, e, name)
	// Of the backups listed since, the dead leader's must be ones it
	// finished (scheduled ones before the request), never the one it was
	// streaming.
	finished := map[string]bool{}
	for _, m := range regexp.MustCompile(`msg="took etcd backup".* etcd=main .*backup=(\S+)`).FindAllStringSubmatch(log, -1) {
		finished[m[1]] = true
	}
	for _, b := range listBackups(t, e, name, "main") {
		if b.Meta.Member == leader && !finished[b.Name] && !slices.ContainsFunc(before, func(x backup.Info) bool { return x.Name == b.Name }) {
			t.Errorf("backup %s is listed, but its writer %s died before finishing it", b.Name, leader)
		}
	}

	if err := create.Wait(); err != nil {
		t.Fatalf("backup create after the leader died: %v\n%s", err, stdout.String())
	}
	taken := strings.TrimSpace(stdout.String())
	list := listBackups(t, e, name, "main")
	i := slices.IndexFunc(list, func(b backup.Info) bool { return b.Name == taken })
	if i < 0 {
		t.Fatalf("backup %q is not listed", taken)
	}
	requestedBackup := list[i]
	if m := requestedBackup.Meta.Member; m == leader || m == "" {
		t.Errorf("backup %s taken by member %q, want another member than the dead leader %s", taken, m, leader)
	}
	checkBackupsComplete(t, e, name)

	// No request now: the next backup is a scheduled one, due one interval
	// after the newest. The slack covers polling and the snapshot's stream.
	var scheduled backup.Info
	harness.Eventually(t, interval+time.Minute, "a scheduled backup after the leader died", func() error {
		list := listBackups(t, e, name, "main")
		if len(list) == 0 || !list[0].Meta.Timestamp.After(requestedBackup.Meta.Timestamp) {
			return fmt.Errorf("the newest backup is still %s", taken)
		}
		scheduled = list[0]
		return nil
	})
	gap := scheduled.Meta.Timestamp.Sub(requestedBackup.Meta.Timestamp)
	t.Logf("FIGURE scheduled etcd backups after the backup leader died: requested backup served by %s %s after the kill, next scheduled backup %s by %s %s later (interval %s)",
		requestedBackup.Meta.Member, requestedBackup.Meta.Timestamp.Sub(killed).Round(time.Second), scheduled.Name, scheduled.Meta.Member, gap.Round(time.Second), interval)
	if scheduled.Meta.Member == leader || scheduled.Meta.Member == "" {
		t.Errorf("scheduled backup %s taken by member %q, want another member than the dead leader %s", scheduled.Name, scheduled.Meta.Member, leader)
	}
	if gap > interval+20*time.Second {
		t.Errorf("scheduled backup %s came %s after the previous one, want within the interval %s (and 20 s of polling)", scheduled.Name, gap.Round(time.Second), interval)
	}
	checkBackupsComplete(t, e, name)

	// Drop the fill and the space it took, so later backups are small.
	del, err := c.Delete(ctx, "/hull-e2e/fill/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete fill keys: %v", err)
	}
	// (The API server compacts too; a compaction past ours is as good.)
	if _, err := c.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact etcd main: %v", err)
	}
	for _, in := range survivors {
		mc := etcdClient(t, e, cl, name, "main", in)
		if _, err := mc.Defragment(ctx, mc.Endpoints()[0]); err != nil {
			t.Fatalf("defragment etcd main on %s: %v", in.ID, err)
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func readFrom(t *testing.T, p string, off int64) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data[min(off, int64(len(data))):])
}
