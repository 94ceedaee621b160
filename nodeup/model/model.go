package model

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/assets"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/state"
)

// Roles, as in the InstanceGroup spec.
const (
	RoleControlPlane = "ControlPlane"
	RoleNode         = "Node"
)

// Facts are what nodeup learns about the machine it runs on.
type Facts struct {
	// Hostname is the node name; on the local cloud the instance id.
	Hostname   string
	InstanceID string
	// Address is the machine's address (eth0), the node IP.
	Address netip.Addr
	// CgroupRoot is the machine's cgroup ("/hull/<cluster>/<id>"), the
	// kubelet's cgroupRoot; empty lets the kubelet use "/".
	CgroupRoot string
	// Cloud is $HULL_CLOUD, the name of the machine's cloud, whose
	// registered behaviour nodeup follows (see Input.Cloud).
	Cloud string
}

// Assets locates the verified asset repository as the machine sees it.
type Assets struct {
	// Dir is the repository on the machine, e.g. /opt/hull/image/assets.
	Dir      string
	Manifest *assets.Manifest
}

// Bin is the path of a repository file on the machine.
func (a *Assets) Bin(name string) string { return a.Dir + "/" + name }

// Image is the reference of the image whose tarball is images/<name>.tar.
func (a *Assets) Image(name string) (string, error) {
	im, ok := a.Manifest.Image("images/" + name + ".tar")
	if !ok {
		return "", fmt.Errorf("the asset manifest has no image images/%s.tar", name)
	}
	return im.Name, nil
}

// Input is everything the model is built from.
type Input struct {
	Config *nodeup.Config
	Facts  Facts
	Assets *Assets
	// Keysets by name: private ones (with keys) on control-plane machines,
	// public ones on workers.
	Keysets map[string]*pki.Keyset
	// Root is where files are written: "/" on a machine.
	Root string
	Now  func() time.Time
	// Store holds etcd member records and the bootstrap token.
	Store *state.Store
	Log   *slog.Logger
}

// IsControlPlane reports the machine's role.
func (in *Input) IsControlPlane() bool { return in.Config.Role == RoleControlPlane }

func (in *Input) keyset(name string) (*pki.Keyset, error) {
	ks, ok := in.Keysets[name]
	if !ok {
		return nil, fmt.Errorf("keyset %s was not loaded from the state store", name)
	}
	return ks, nil
}

// MainEtcd is the etcd cluster the apiserver stores everything but events
// in: "main" if there is one, else the first.
func MainEtcd(c *nodeup.Config) *nodeup.EtcdCluster {
	for i := range c.EtcdClusters {
		if c.EtcdClusters[i].Name == "main" {
			return &c.EtcdClusters[i]
		}
	}
	if len(c.EtcdClusters) > 0 {
		return &c.EtcdClusters[0]
	}
	return nil
}

// EventsEtcd is the "events" cluster, or nil.
func EventsEtcd(c *nodeup.Config) *nodeup.EtcdCluster {
	i := slices.IndexFunc(c.EtcdClusters, func(e nodeup.EtcdCluster) bool { return e.Name == "events" })
	if i < 0 {
		return nil
	}
	return &c.EtcdClusters[i]
}

// FileTasks builds the "files" phase: certificates, keys, CA bundles,
// kubeconfigs, component configs and (on the control plane) the static
// pods of the Kubernetes control plane. etcd's static pods come later, in
// the etcd phase, because they depend on the other machines.
func FileTasks(in *Input) ([]tasks.Task, error) {
	if !in.Facts.Address.IsValid() {
		return nil, fmt.Errorf("the machine's address is unknown")
	}
	if in.Facts.Hostname == "" {
		return nil, fmt.Errorf("the machine's hostname is unknown")
	}
	var list []tasks.Task
	add := func(ts []tasks.Task, err error) error {
		list = append(list, ts...)
		return err
	}
	if err := add(pkiTasks(in)); err != nil {
		return nil, err
	}
	if err := add(kubeconfigTasks(in)); err != nil {
		return nil, err
	}
	if err := add(nodeConfigTasks(in)); err != nil {
		return nil, err
	}
	if in.IsControlPlane() {
		if err := add(controlPlaneManifests(in)); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (in *Input) file(name, p string, mode uint32, content []byte) *tasks.File {
	return &tasks.File{TaskName: name, TaskPhase: tasks.PhaseFiles, Root: in.Root, Path: p, Mode: fsMode(mode), Content: constant(content)}
}

func (in *Input) log() *slog.Logger {
	if in.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Log
}
