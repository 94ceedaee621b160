package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/cloud"

	"github.com/hullproject/hull/internal/atomicfile"
)

// stateVersion is bumped when the on-disk layout changes incompatibly.
const stateVersion = 1

// state is everything the daemon owns. It is written as one JSON document
// (state.json) after every change, so a restarted daemon knows exactly which
// machines, addresses and ports it handed out.
type state struct {
	Version       int                            `json:"version"`
	Networks      map[string]*network            `json:"networks"`      // by cluster
	Images        map[string]*image              `json:"images"`        // by name
	LaunchConfigs map[string]*cloud.LaunchConfig `json:"launchConfigs"` // by cluster/group
	Groups        map[string]*group              `json:"groups"`        // by cluster/group
	Instances     map[string]*instance           `json:"instances"`     // by id
	LoadBalancers map[string]*loadBalancer       `json:"loadBalancers"` // by cluster/name
	// Owners records which cluster identity owns each cluster name's
	// resources (see owner.go).
	Owners map[string]*cloud.Owner `json:"owners,omitempty"` // by cluster
}

// network is a cluster's bridge and subnets.
type network struct {
	cloud.Network
	// Next is, per subnet, where the address search starts, so a freed
	// address is not handed out again at once (stale ARP entries on the
	// bridge would misroute traffic to the new machine for a while).
	Next map[string]string `json:"next,omitempty"`
}

// group is an instance group and its target count.
type group struct {
	cloud.InstanceGroup
	// NextSubnet rotates launches over the group's subnets.
	NextSubnet int `json:"nextSubnet,omitempty"`
}

// instance is one machine and what is needed to stop or re-adopt it.
type instance struct {
	cloud.Instance
	Subnet       string           `json:"subnet"`
	Image        string           `json:"image"`
	CgroupParent string           `json:"cgroupParent"`
	Machine      *sandbox.Machine `json:"machine,omitempty"`
	// BootedAt is when the boot process started; Running follows 1 s later.
	BootedAt     time.Time `json:"bootedAt,omitzero"`
	TerminatedAt time.Time `json:"terminatedAt,omitzero"`
	// Reason says why the machine was terminated, for the log and debugging.
	Reason string `json:"reason,omitempty"`
}

// live reports whether the machine still holds its address and counts as
// existing (Pending, Running or Terminating).
func (i *instance) live() bool { return i.State != cloud.StateTerminated }

// loadBalancer is a load balancer and the host port chosen for it once.
type loadBalancer struct {
	cloud.LoadBalancer
	HostPort int `json:"hostPort"`
}

func newState() *state {
	return &state{
		Version:       stateVersion,
		Networks:      map[string]*network{},
		Images:        map[string]*image{},
		LaunchConfigs: map[string]*cloud.LaunchConfig{},
		Groups:        map[string]*group{},
		Instances:     map[string]*instance{},
		LoadBalancers: map[string]*loadBalancer{},
		Owners:        map[string]*cloud.Owner{},
	}
}

func key(cluster, name string) string { return cluster + "/" + name }

// loadState reads state.json; a missing file is an empty cloud.
func loadState(path string) (*state, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read local cloud state: %w", err)
	}
	s := newState()
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("parse local cloud state %s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("local cloud state %s has version %d, this hull understands %d", path, s.Version, stateVersion)
	}
	// Maps absent from an older file come back nil; make them usable.
	fresh := newState()
	if s.Networks == nil {
		s.Networks = fresh.Networks
	}
	if s.Images == nil {
		s.Images = fresh.Images
	}
	if s.LaunchConfigs == nil {
		s.LaunchConfigs = fresh.LaunchConfigs
	}
	if s.Groups == nil {
		s.Groups = fresh.Groups
	}
	if s.Instances == nil {
		s.Instances = fresh.Instances
	}
	if s.LoadBalancers == nil {
		s.LoadBalancers = fresh.LoadBalancers
	}
	if s.Owners == nil {
		s.Owners = fresh.Owners
	}
	return s, nil
}

// save writes the state atomically: a crash leaves either the old or the
// new document, never half of one.
func (s *state) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local cloud state: %w", err)
	}
	return atomicfile.Write(path, data, 0o600)
}
