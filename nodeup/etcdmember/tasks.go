package etcdmember

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/state"
)

// Cluster describes one etcd cluster as this machine takes part in it.
type Cluster struct {
	Registry *Registry
	// Name of the etcd cluster ("main").
	Name string
	// Self is this machine's member.
	Self *Member
	// Members are the names of every member, this one included.
	Members []string
	// TLS talks to the other members when replacing a member.
	TLS TLSFiles
	// DataDir is the member's data directory on the host (root-joined).
	DataDir string
	// WaitTimeout bounds the wait for the other members to register.
	WaitTimeout time.Duration
	// RetryEvery is the pause between polls.
	RetryEvery time.Duration
	Log        *slog.Logger
}

func (c *Cluster) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Register is the task that records this machine's member in the store,
// replacing a member registered by another (gone) machine.
func (c *Cluster) Register() tasks.Task {
	return &tasks.Func{
		TaskName:  "etcd/" + c.Name + "/register",
		TaskPhase: tasks.PhaseEtcd,
		CheckFn:   c.checkRegister,
		ApplyFn:   c.applyRegister,
	}
}

func (c *Cluster) details() []string {
	return []string{fmt.Sprintf("member %s instance %s peer %s client %s", c.Self.Name, c.Self.InstanceID, c.Self.PeerURL, c.Self.ClientURL)}
}

func (c *Cluster) checkRegister(ctx context.Context) (tasks.Change, error) {
	cur, _, err := c.Registry.Get(ctx, c.Name, c.Self.Name)
	switch {
	case errors.Is(err, state.ErrNotFound):
		return tasks.Change{Action: tasks.Create, Details: c.details()}, nil
	case err != nil:
		return tasks.Change{}, err
	case cur.InstanceID != c.Self.InstanceID:
		return tasks.Change{Action: tasks.Update, Reason: "replaces instance " + cur.InstanceID, Details: c.details()}, nil
	case cur.PeerURL != c.Self.PeerURL || cur.ClientURL != c.Self.ClientURL:
		return tasks.Change{Action: tasks.Update, Reason: "address changed", Details: c.details()}, nil
	}
	return tasks.Change{Action: tasks.Unchanged, Details: c.details()}, nil
}

func (c *Cluster) applyRegister(ctx context.Context) error {
	cur, gen, err := c.Registry.Get(ctx, c.Name, c.Self.Name)
	if errors.Is(err, state.ErrNotFound) {
		return c.Registry.Put(ctx, c.Name, c.Self, state.MustNotExist())
	}
	if err != nil {
		return err
	}
	self := *c.Self
	if cur.InstanceID == c.Self.InstanceID {
		self.Existing, self.Replaced = cur.Existing, cur.Replaced
		return c.Registry.Put(ctx, c.Name, &self, state.MatchGeneration(gen))
	}
	self.Replaced = cur.InstanceID
	// A replacement machine. With other members, the cluster lives on in
	// them: swap the member through etcd and join with an empty data dir.
	// A lone member has nobody to join: it founds a new cluster on the
	// newest backup (a rolling update takes one just before terminating).
	others, _, err := c.Registry.Lookup(ctx, c.Name, c.others())
	if err != nil {
		return err
	}
	if len(others) > 0 {
		var endpoints []string
		for _, o := range others {
			endpoints = append(endpoints, o.ClientURL)
		}
		if err := c.retry(ctx, "replace etcd member "+c.Self.Name, func() error {
			return Replace(ctx, endpoints, c.TLS, cur, c.Self, c.log())
		}); err != nil {
			return err
		}
		self.Existing = true
		if err := os.RemoveAll(c.DataDir); err != nil {
			return fmt.Errorf("empty etcd data dir %s: %w", c.DataDir, err)
		}
	} else if err := c.restoreNewest(ctx); err != nil {
		return err
	}
	return c.Registry.Put(ctx, c.Name, &self, state.MatchGeneration(gen))
}

func (c *Cluster) others() []string {
	var out []string
	for _, n := range c.Members {
		if n != c.Self.Name {
			out = append(out, n)
		}
	}
	return out
}

// WaitMembers is the task that waits (bounded, logging progress) until
// every member has registered: a new cluster needs all its peers' URLs.
func (c *Cluster) WaitMembers() tasks.Task {
	return &tasks.Func{
		TaskName:  "etcd/" + c.Name + "/members",
		TaskPhase: tasks.PhaseEtcd,
		CheckFn: func(ctx context.Context) (tasks.Change, error) {
			_, missing, err := c.Registry.Lookup(ctx, c.Name, c.others())
			if err != nil {
				return tasks.Change{}, err
			}
			d := []string{fmt.Sprintf("members %v", c.Members)}
			if len(missing) > 0 {
				return tasks.Change{Action: tasks.Ensure, Reason: fmt.Sprintf("waits for %v to register", missing), Details: d}, nil
			}
			return tasks.Change{Action: tasks.Unchanged, Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			return c.retry(ctx, "wait for etcd members of "+c.Name, func() error {
				_, missing, err := c.Registry.Lookup(ctx, c.Name, c.others())
				if err == nil && len(missing) > 0 {
					err = fmt.Errorf("members %v have not registered yet", missing)
				}
				return err
			})
		},
	}
}

// InitialCluster is the --initial-cluster and --initial-cluster-state of
// this machine's member. Members that have not registered (only in a
// plan) show as pending.
func (c *Cluster) InitialCluster(ctx context.Context) (string, string, error) {
	found, missing, err := c.Registry.Lookup(ctx, c.Name, c.Members)
	if err != nil {
		return "", "", err
	}
	st := "new"
	var members []*Member
	for _, m := range found {
		if m.Name == c.Self.Name {
			if m.InstanceID == c.Self.InstanceID && m.Existing {
				st = "existing"
			}
			m = c.Self
		}
		members = append(members, m)
	}
	for _, n := range missing {
		if n == c.Self.Name {
			members = append(members, c.Self)
			continue
		}
		members = append(members, &Member{Name: n, PeerURL: "https://<pending>"})
	}
	return InitialCluster(members), st, nil
}

func (c *Cluster) retry(ctx context.Context, what string, fn func() error) error {
	timeout, every := c.WaitTimeout, c.RetryEvery
	if timeout == 0 {
		timeout = 15 * time.Minute
	}
	if every == 0 {
		every = 2 * time.Second
	}
	lastLog := time.Time{}
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, every, timeout, true, func(context.Context) (bool, error) {
		if lastErr = fn(); lastErr == nil {
			return true, nil
		}
		if time.Since(lastLog) >= 10*time.Second {
			c.log().Info("waiting", "for", what, "err", lastErr)
			lastLog = time.Now()
		}
		return false, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%s: gave up after %s: %w", what, timeout, lastErr)
}
