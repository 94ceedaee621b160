package etcdmanager

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/nodeup/etcdmember"
	"github.com/hullproject/hull/nodeup/model"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/etcd/manager"
	"github.com/hullproject/hull/pkg/etcd/retention"
)

// ParkedDir holds manifests of components stopped for a restore. It lies
// outside the kubelet's manifest directory, in the machine's private
// /etc/kubernetes.
const ParkedDir = "/etc/kubernetes/stopped-manifests"

// Options tune the managers beyond what the nodeup config says.
type Options struct {
	// PollInterval is how often the managers read the control objects
	// (restore commands, backup requests) from the state store; zero takes
	// manager.DefaultPollInterval. A local store makes reads free, an S3
	// one bills them.
	PollInterval time.Duration
	// StepTimeout bounds each phase of a restore, and so how long a
	// coordinator may stay silent before another manager takes its
	// restore over; zero takes manager.DefaultStepTimeout.
	StepTimeout time.Duration
}

// Run runs one etcd manager per etcd cluster of a control-plane machine
// until ctx ends. A manager that cannot be set up is logged and retried:
// the machine keeps serving even while its backups are broken.
func Run(ctx context.Context, in *model.Input, o Options) {
	if !in.IsControlPlane() {
		return
	}
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gate := &APIServerGate{
		Manifest: filepath.Join(in.Root, model.ManifestsDir, "kube-apiserver.yaml"),
		Parked:   filepath.Join(in.Root, ParkedDir, "kube-apiserver.yaml"),
		Log:      log,
	}
	var wg sync.WaitGroup
	for i := range in.Config.EtcdClusters {
		ec := &in.Config.EtcdClusters[i]
		wg.Go(func() {
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				if err := runOne(ctx, in, ec, gate, o, log); err != nil {
					log.Error("etcd manager stopped; restarting in 10s", "etcd", ec.Name, "err", err)
				}
			}, 10*time.Second)
		})
	}
	wg.Wait()
}

func runOne(ctx context.Context, in *model.Input, ec *nodeup.EtcdCluster, gate *APIServerGate, o Options, log *slog.Logger) error {
	cfg, tlsFiles, err := managerConfig(in, ec, gate, o, log)
	if err != nil {
		return err
	}
	if cfg.Node.TLS, err = tlsFiles.Config(); err != nil {
		return fmt.Errorf("etcd %s: %w", ec.Name, err)
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints: []string{cfg.Node.ClientURL}, TLS: cfg.Node.TLS,
		DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcd client for %s: %w", ec.Name, err)
	}
	defer client.Close()
	cfg.Client = client
	m, err := manager.New(cfg)
	if err != nil {
		return err
	}
	log.Info("etcd manager running", "etcd", ec.Name, "member", cfg.Member, "interval", m.Config().Interval)
	return m.Run(ctx)
}

// managerConfig is the manager config of this machine's member of ec,
// from the nodeup config: the member, its static pod, and the backup
// interval and retention of spec.etcdClusters[].backups. The caller loads
// the TLS files into Node.TLS and adds the etcd client.
func managerConfig(in *model.Input, ec *nodeup.EtcdCluster, gate *APIServerGate, o Options, log *slog.Logger) (manager.Config, etcdmember.TLSFiles, error) {
	clusters, err := model.EtcdClusters(in)
	if err != nil {
		return manager.Config{}, etcdmember.TLSFiles{}, err
	}
	i := slices.IndexFunc(clusters, func(c *etcdmember.Cluster) bool { return c.Name == ec.Name })
	if i < 0 {
		return manager.Config{}, etcdmember.TLSFiles{}, fmt.Errorf("etcd cluster %s has no member on this machine", ec.Name)
	}
	c := clusters[i]
	manifest := "etcd-" + ec.Name + ".yaml"
	cfg := manager.Config{
		Cluster: in.Config.ClusterName, EtcdCluster: ec.Name, Member: c.Self.Name,
		Store: in.Store, PollInterval: o.PollInterval, StepTimeout: o.StepTimeout, Log: log,
		Node: &manager.Node{
			Supervisor: &StaticPod{
				Manifest: filepath.Join(in.Root, model.ManifestsDir, manifest),
				Parked:   filepath.Join(in.Root, ParkedDir, manifest),
				Member:   c.Self.Name,
				Gate:     gate,
				Log:      log,
			},
			DataDir:   c.DataDir,
			ClientURL: c.Self.ClientURL,
			// Snapshots are as large as the database: keep them on the
			// data disk, not in a tmpfs.
			TempDir: filepath.Join(in.Root, model.EtcdDataDir),
		},
	}
	if b := ec.Backups; b != nil {
		cfg.Interval = b.Interval.Duration
		cfg.Retention = &retention.Policy{KeepAllFor: b.KeepAllFor.Duration, HourlyFor: b.HourlyFor.Duration, DailyFor: b.DailyFor.Duration}
	}
	return cfg, c.TLS, nil
}
