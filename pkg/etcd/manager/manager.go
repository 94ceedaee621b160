package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/control"
	"github.com/hullproject/hull/pkg/etcd/retention"
	"github.com/hullproject/hull/pkg/state"
)

// Defaults for the Config fields left zero.
const (
	DefaultInterval     = 15 * time.Minute
	DefaultPruneEvery   = time.Hour
	DefaultPollInterval = 10 * time.Second
	DefaultStepTimeout  = 10 * time.Minute
	DefaultSessionTTL   = 10 * time.Second
)

// Config configures the manager of one etcd member.
type Config struct {
	Cluster     string // the hull cluster
	EtcdCluster string // main or events
	Member      string // this member's etcd name
	Store       *state.Store
	// Client reaches the etcd cluster (normally through the local member);
	// it runs the election and the scheduled backups.
	Client *clientv3.Client

	Interval time.Duration // between scheduled backups
	// Retention says which backups survive; nil takes
	// retention.DefaultPolicy(). A policy of zeros keeps only the newest.
	Retention    *retention.Policy
	PruneEvery   time.Duration // at most this often retention runs
	PollInterval time.Duration // how often the control objects are read
	StepTimeout  time.Duration // how long a restore phase may take
	SessionTTL   time.Duration // of the election lease

	// Node lets this manager stop, restore and restart its etcd member.
	// Without it the manager backs up but takes no part in restores.
	Node *Node

	Log *slog.Logger
	Now func() time.Time
}

// Manager is the etcd manager of one member. Run it for as long as the
// member should be managed.
type Manager struct {
	cfg Config
	log *slog.Logger

	leading       atomic.Bool
	restoreActive atomic.Bool
	seq           atomic.Int64

	mu        sync.Mutex
	snapshots map[string]string // restore id -> verified snapshot path (coordinator)
	// coordinating is the restore this manager drives, whose heartbeat it renews.
	coordinating string

	// beats is what participate last saw of other coordinators' heartbeats.
	beats map[string]beatSeen
	// damaged is the damage last logged per store object, so that a
	// damaged object found on every poll is logged once.
	damaged map[string]string
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Manager, error) {
	switch {
	case cfg.Cluster == "" || cfg.EtcdCluster == "" || cfg.Member == "":
		return nil, errors.New("etcd manager: cluster, etcd cluster and member names are required")
	case cfg.Store == nil || cfg.Client == nil:
		return nil, errors.New("etcd manager: a state store and an etcd client are required")
	}
	policy := retention.DefaultPolicy()
	if cfg.Retention != nil {
		policy = *cfg.Retention
	}
	if err := policy.Validate(); err != nil {
		return nil, fmt.Errorf("etcd manager: %w", err)
	}
	cfg.Retention = &policy
	setDefault(&cfg.Interval, DefaultInterval)
	setDefault(&cfg.PruneEvery, DefaultPruneEvery)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.StepTimeout, DefaultStepTimeout)
	setDefault(&cfg.SessionTTL, DefaultSessionTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("cluster", cfg.Cluster, "etcd", cfg.EtcdCluster, "member", cfg.Member)
	return &Manager{cfg: cfg, log: log, snapshots: map[string]string{}, beats: map[string]beatSeen{}, damaged: map[string]string{}}, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// ElectionKey is the etcd key prefix of the backup-leader election.
func ElectionKey(cluster, etcdCluster string) string {
	return path.Join("/hull/backup-leader", cluster, etcdCluster)
}

// Config returns the manager's config, with the defaults New filled in.
func (m *Manager) Config() Config { return m.cfg }

// IsLeader reports whether this manager is the backup leader now.
func (m *Manager) IsLeader() bool { return m.leading.Load() }

// Run campaigns for backup leadership, leads while elected, and carries out
// restore commands, until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { m.participate(ctx) })
	wg.Go(func() { m.heartbeat(ctx) })
	m.campaign(ctx)
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, p := range m.snapshots {
		removeFile(p)
		delete(m.snapshots, id)
	}
	return nil
}

// campaign wins the election through an etcd lease-backed session, leads
// until the session ends (the lease expired or was revoked, or etcd
// stopped), then campaigns again.
func (m *Manager) campaign(ctx context.Context) {
	ttl := int(max(m.cfg.SessionTTL.Round(time.Second)/time.Second, 1))
	for ctx.Err() == nil {
		sess, err := concurrency.NewSession(m.cfg.Client, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
		if err != nil {
			m.log.Warn("etcd session for the backup-leader election failed; retrying", "err", err)
			sleep(ctx, m.cfg.PollInterval)
			continue
		}
		el := concurrency.NewElection(sess, ElectionKey(m.cfg.Cluster, m.cfg.EtcdCluster))
		if err := el.Campaign(ctx, m.cfg.Member); err != nil {
			m.log.Warn("backup-leader campaign failed; retrying", "err", err)
			_ = sess.Close()
			sleep(ctx, m.cfg.PollInterval)
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
			case <-lctx.Done():
			}
			cancel()
		}()
		m.log.Info("became the etcd backup leader")
		m.leading.Store(true)
		m.lead(lctx)
		m.leading.Store(false)
		cancel()
		m.log.Info("no longer the etcd backup leader")
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = el.Resign(rctx)
		rcancel()
		_ = sess.Close()
	}
}

// lead does the leader's duties every PollInterval until ctx ends.
func (m *Manager) lead(ctx context.Context) {
	var lastBackup, lastPrune time.Time
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := m.claimRestore(ctx); err != nil {
			m.log.Error("claim restore command", "err", err)
		}
		if !m.restoreActive.Load() {
			if err := m.serveRequests(ctx); err != nil {
				m.log.Error("backup request", "err", err)
			}
			if t, err := m.scheduledBackup(ctx, lastBackup); err != nil {
				m.log.Error("scheduled backup failed", "err", err)
			} else {
				lastBackup = t
			}
			if now := m.cfg.Now(); now.Sub(lastPrune) >= m.cfg.PruneEvery {
				if _, err := retention.Prune(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster, now, *m.cfg.Retention, m.log); err != nil {
					m.log.Error("retention", "err", err)
				} else {
					lastPrune = now
				}
			}
		}
	}, m.cfg.PollInterval)
}

// scheduledBackup takes a backup when the newest intact one is Interval
// old and returns the newest intact backup's time. lastBackup caches it
// between calls so the store is listed only when a backup may be due. A
// damaged backup cannot be restored, so it neither stops nor delays the
// schedule.
func (m *Manager) scheduledBackup(ctx context.Context, lastBackup time.Time) (time.Time, error) {
	now := m.cfg.Now()
	if now.Sub(lastBackup) < m.cfg.Interval {
		return lastBackup, nil
	}
	all, err := backup.List(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster)
	if err != nil {
		return lastBackup, err
	}
	for _, b := range all {
		if b.Damaged != "" {
			m.warnDamaged("etcd backup "+b.Name, b.Damaged)
		}
	}
	if intact := backup.Intact(all); len(intact) > 0 && now.Sub(intact[0].Time) < m.cfg.Interval {
		return intact[0].Time, nil
	}
	info, err := m.takeBackup(ctx, m.cfg.Client)
	if err != nil {
		return lastBackup, err
	}
	return info.Time, nil
}

// warnDamaged logs a damaged store object that is skipped, once per
// object and damage: the listings that find it run every poll.
func (m *Manager) warnDamaged(object, damage string) {
	m.mu.Lock()
	seen := m.damaged[object] == damage
	m.damaged[object] = damage
	m.mu.Unlock()
	if !seen {
		m.log.Warn("skipping a damaged object in the state store; a human should look at it", "object", object, "damage", damage)
	}
}

// warnDamagedControl logs the control objects a listing skipped.
func (m *Manager) warnDamagedControl(damaged []control.Damaged) {
	for _, d := range damaged {
		m.warnDamaged(d.Key, d.Err.Error())
	}
}

// takeBackup saves a backup, trying the next sequence number if another
// manager took one with the same name.
func (m *Manager) takeBackup(ctx context.Context, client *clientv3.Client) (backup.Info, error) {
	now := m.cfg.Now()
	for range 5 {
		seq := int(m.seq.Add(1))
		meta, err := backup.Save(ctx, client, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster, now, seq)
		if errors.Is(err, state.ErrConflict) {
			continue
		}
		if err != nil {
			return backup.Info{}, err
		}
		name := backup.Name(now, seq)
		m.log.Info("took etcd backup", "backup", name, "size", meta.SnapshotSize, "compressed", meta.CompressedSize)
		return backup.Info{Name: name, Time: now.UTC().Truncate(time.Second), Seq: seq, Meta: *meta}, nil
	}
	return backup.Info{}, fmt.Errorf("back up etcd %s: every name tried was taken", m.cfg.EtcdCluster)
}

// serveRequests takes a backup for each pending backup request.
func (m *Manager) serveRequests(ctx context.Context) error {
	reqs, damaged, err := control.ListBackupRequests(ctx, m.cfg.Store, m.cfg.Cluster, m.cfg.EtcdCluster)
	if err != nil {
		return err
	}
	m.warnDamagedControl(damaged)
	for _, r := range reqs {
		if r.Phase != control.RequestPending && r.Phase != "" {
			continue
		}
		m.log.Info("backup requested", "request", r.ID, "by", r.RequestedBy)
		info, berr := m.takeBackup(ctx, m.cfg.Client)
		key := control.BackupRequestKey(m.cfg.Cluster, m.cfg.EtcdCluster, r.ID)
		_, err := control.Update(ctx, m.cfg.Store, key, func(r *control.BackupRequest) error {
			r.Finished = m.cfg.Now().UTC()
			if berr != nil {
				r.Phase, r.Error = control.RequestFailed, berr.Error()
			} else {
				r.Phase, r.Backup = control.RequestSucceeded, info.Name
			}
			return nil
		})
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
