package model

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Cloud is what nodeup does differently on one cloud. The nodeup package
// of each cloud registers one (RegisterCloud); a machine names its cloud in
// $HULL_CLOUD. A cloud nobody registered gets the zero Cloud: systemd runs
// the services and every machine routes to the others' pod CIDRs.
type Cloud struct {
	Name string
	// Supervised: nodeup is the machine's first process and so runs the
	// services itself (systemd units would land on the host); the
	// kubelet's cgroupRoot is then nodeup's own cgroup.
	Supervised bool
	// MasqueradePods: the network delivers pod addresses only inside the
	// cluster, so pod traffic leaving it takes the machine's address.
	MasqueradePods bool
	// EtcdPollInterval is how often the etcd managers read restore
	// commands and backup requests; zero keeps their default.
	EtcdPollInterval time.Duration
	// EtcdStepTimeout bounds each phase of a restore, and so how long a
	// dead coordinator's restore keeps etcd stopped before another member
	// rolls it back; zero keeps the managers' default (10 minutes).
	EtcdStepTimeout time.Duration
	// PodRoutes keeps the routes to the nodes' pod CIDRs until ctx ends,
	// on the control plane only when PodRoutesControlPlaneOnly; nil
	// makes every machine route to the others itself (kubeapi.Routes).
	PodRoutes                 func(ctx context.Context, in *Input, kube kubernetes.Interface, log *slog.Logger)
	PodRoutesControlPlaneOnly bool
}

// Cloud is the behaviour of the machine's cloud.
func (in *Input) Cloud() Cloud { return CloudNamed(in.Facts.Cloud) }

var (
	cloudsMu sync.RWMutex
	clouds   = map[string]Cloud{}
)

// RegisterCloud makes a cloud's nodeup behaviour known; the cloud's nodeup
// package calls it from init. Registering a name twice panics.
func RegisterCloud(c Cloud) {
	cloudsMu.Lock()
	defer cloudsMu.Unlock()
	if _, dup := clouds[c.Name]; dup {
		panic("nodeup: cloud " + c.Name + " registered twice")
	}
	clouds[c.Name] = c
}

// CloudNamed is the registered behaviour of a cloud, the zero Cloud (with
// the name) when none is registered.
func CloudNamed(name string) Cloud {
	cloudsMu.RLock()
	defer cloudsMu.RUnlock()
	if c, ok := clouds[name]; ok {
		return c
	}
	return Cloud{Name: name}
}
