package etcdmanager

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hullproject/hull/cloudup"
	"github.com/hullproject/hull/nodeup/model"
	"github.com/hullproject/hull/pkg/apis/completion"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/etcd/retention"
	"github.com/hullproject/hull/pkg/state"
)

// controlPlaneInput is what nodeup on a control-plane machine of the
// cluster gets: cloudup builds and encodes the group's nodeup config,
// nodeup verifies it against the user-data and builds its input.
func controlPlaneInput(t *testing.T, edit func(*v1alpha1.Cluster)) *model.Input {
	t.Helper()
	ctx := context.Background()
	c, igs, err := newcluster.Build(newcluster.Options{Name: "backups.example.com", KubernetesVersion: "1.37.2"})
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	if c, igs, err = completion.Complete(c, igs, completion.Options{ConfigBase: "mem://backups/backups.example.com"}); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(ctx, "mem://etcdmanager-"+strings.ToLower(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := cloudup.BuildModel(c, igs, nil, store)
	if err != nil {
		t.Fatal(err)
	}
	for group, lc := range m.LaunchConfigs {
		ud, err := nodeup.ParseUserData(lc.UserData)
		if err != nil {
			t.Fatalf("%s: %v", group, err)
		}
		if ud.Role != model.RoleControlPlane {
			continue
		}
		cfg, err := nodeup.VerifyConfig(ud, m.NodeupConfigs[group].Data)
		if err != nil {
			t.Fatalf("%s: %v", group, err)
		}
		return &model.Input{
			Config: cfg, Root: t.TempDir(), Store: store,
			Facts: model.Facts{Hostname: "cp-1", InstanceID: "cp-1", Address: netip.MustParseAddr("10.0.1.10")},
		}
	}
	t.Fatal("no control-plane group in the model")
	return nil
}

// effectiveConfigs builds every etcd manager of the machine as runOne
// does and returns their configs after manager.New filled its defaults.
func effectiveConfigs(t *testing.T, in *model.Input, o Options) map[string]manager.Config {
	t.Helper()
	// Lazy: it never dials, and nothing here talks to etcd.
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	out := map[string]manager.Config{}
	for i := range in.Config.EtcdClusters {
		ec := &in.Config.EtcdClusters[i]
		cfg, _, err := managerConfig(in, ec, nil, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Client = client
		m, err := manager.New(cfg)
		if err != nil {
			t.Fatalf("etcd %s: %v", ec.Name, err)
		}
		out[ec.Name] = m.Config()
	}
	return out
}

type schedule struct {
	Interval  time.Duration
	Retention retention.Policy
}

func schedules(cfgs map[string]manager.Config) map[string]schedule {
	out := map[string]schedule{}
	for name, c := range cfgs {
		out[name] = schedule{Interval: c.Interval, Retention: *c.Retention}
	}
	return out
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// spec.etcdClusters[].backups reaches each etcd manager through cloudup's
// nodeup config and nodeup, per etcd cluster, including a retention of
// zero everywhere (keep only the newest backup), which is not the default.
func TestBackupSettingsReachTheManagers(t *testing.T) {
	in := controlPlaneInput(t, func(c *v1alpha1.Cluster) {
		for i := range c.Spec.EtcdClusters {
			e := &c.Spec.EtcdClusters[i]
			switch e.Name {
			case "main":
				e.Backups = &v1alpha1.EtcdBackupSpec{Interval: duration(7 * time.Minute), Retention: &v1alpha1.BackupRetention{
					KeepAllFor: duration(2 * time.Hour), HourlyFor: duration(72 * time.Hour), DailyFor: duration(30 * 24 * time.Hour)}}
			case "events":
				e.Backups = &v1alpha1.EtcdBackupSpec{Interval: duration(time.Hour), Retention: &v1alpha1.BackupRetention{
					KeepAllFor: duration(0), HourlyFor: duration(0), DailyFor: duration(0)}}
			}
		}
	})
	cfgs := effectiveConfigs(t, in, Options{})
	want := map[string]schedule{
		"main":   {Interval: 7 * time.Minute, Retention: retention.Policy{KeepAllFor: 2 * time.Hour, HourlyFor: 72 * time.Hour, DailyFor: 30 * 24 * time.Hour}},
		"events": {Interval: time.Hour, Retention: retention.Policy{}},
	}
	if diff := cmp.Diff(want, schedules(cfgs)); diff != "" {
		t.Errorf("manager schedules (-spec +manager):\n%s", diff)
	}
	for name, c := range cfgs {
		if c.Cluster != "backups.example.com" || c.EtcdCluster != name || c.Member == "" || c.Node == nil || c.Node.DataDir == "" {
			t.Errorf("etcd %s: manager config %+v does not name its cluster, member and data dir", name, c)
		}
	}
}

// A spec that says nothing about backups gets the documented defaults,
// whether completion or the manager fills them.
func TestBackupDefaultsReachTheManagers(t *testing.T) {
	cfgs := effectiveConfigs(t, controlPlaneInput(t, func(*v1alpha1.Cluster) {}), Options{})
	want := map[string]schedule{
		"main":   {Interval: manager.DefaultInterval, Retention: retention.DefaultPolicy()},
		"events": {Interval: manager.DefaultInterval, Retention: retention.DefaultPolicy()},
	}
	if diff := cmp.Diff(want, schedules(cfgs)); diff != "" {
		t.Errorf("manager schedules (-want +got):\n%s", diff)
	}
}

// The machine's options (the local cloud's short polling and step
// timeout) reach both managers; without them the managers keep their
// defaults.
func TestOptionsReachTheManagers(t *testing.T) {
	type timing struct{ Poll, Step time.Duration }
	for _, tc := range []struct {
		name string
		o    Options
		want timing
	}{
		{"defaults", Options{}, timing{manager.DefaultPollInterval, manager.DefaultStepTimeout}},
		{"local cloud", Options{PollInterval: 2 * time.Second, StepTimeout: 2 * time.Minute}, timing{2 * time.Second, 2 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]timing{}
			for name, c := range effectiveConfigs(t, controlPlaneInput(t, func(*v1alpha1.Cluster) {}), tc.o) {
				got[name] = timing{c.PollInterval, c.StepTimeout}
			}
			if diff := cmp.Diff(map[string]timing{"main": tc.want, "events": tc.want}, got); diff != "" {
				t.Errorf("manager timings (-want +got):\n%s", diff)
			}
		})
	}
}
