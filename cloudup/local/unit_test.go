package local

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/cloud"
)

func TestBridgeNameFitsInterfaceNames(t *testing.T) {
	for _, cluster := range []string{"a", "a-very-long-cluster-name.example.com"} {
		if n := bridgeName(cluster); len(n) > 15 || !strings.HasPrefix(n, "hb") {
			t.Errorf("bridgeName(%q) = %q", cluster, n)
		}
	}
}

func TestValidateNetwork(t *testing.T) {
	sub := func(name, cidr string) cloud.Subnet { return cloud.Subnet{Name: name, CIDR: cidr} }
	tests := []struct {
		name    string
		n       cloud.Network
		wantErr string
	}{
		{"ok", cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16", Subnets: []cloud.Subnet{sub("a", "10.124.1.0/24"), sub("b", "10.124.2.0/24")}}, ""},
		{"not a cidr", cloud.Network{Cluster: "c", CIDR: "10.124.0.0", Subnets: []cloud.Subnet{sub("a", "10.124.1.0/24")}}, "not an IPv4 CIDR"},
		{"subnet outside", cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16", Subnets: []cloud.Subnet{sub("a", "10.125.1.0/24")}}, "not inside the network"},
		{"subnets overlap", cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16", Subnets: []cloud.Subnet{sub("a", "10.124.0.0/23"), sub("b", "10.124.1.0/24")}}, "overlap"},
		{"subnet too small", cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16", Subnets: []cloud.Subnet{sub("a", "10.124.1.0/30")}}, "too small"},
		{"no subnets", cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16"}, "at least one subnet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateNetwork(&tt.n)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an invalid-request error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestAllocateAddress: skips network, gateway and broadcast, never hands out
// a live machine's address, and does not reuse a freed one at once.
func TestAllocateAddress(t *testing.T) {
	d := &daemon{st: newState()}
	n := &network{Network: cloud.Network{Cluster: "c", CIDR: "10.124.0.0/16", Subnets: []cloud.Subnet{{Name: "a", CIDR: "10.124.1.0/29", Gateway: "10.124.1.1"}}}, Next: map[string]string{}}
	var got []string
	for i := range 5 {
		p, gw, err := d.allocateAddressLocked(n, "a")
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if gw.String() != "10.124.1.1" || p.Bits() != 29 {
			t.Fatalf("got %s via %s", p, gw)
		}
		got = append(got, p.Addr().String())
		d.st.Instances[p.Addr().String()] = &instance{Instance: cloud.Instance{ID: p.Addr().String(), Address: p.Addr().String(), State: cloud.StateRunning}}
	}
	if diff := cmp.Diff([]string{"10.124.1.2", "10.124.1.3", "10.124.1.4", "10.124.1.5", "10.124.1.6"}, got); diff != "" {
		t.Fatalf("addresses (-want +got):\n%s", diff)
	}
	if _, _, err := d.allocateAddressLocked(n, "a"); err == nil || !strings.Contains(err.Error(), "no free address") {
		t.Fatalf("full subnet: got %v", err)
	}
	d.st.Instances["10.124.1.3"].State = cloud.StateTerminated
	d.st.Instances["10.124.1.5"].State = cloud.StateTerminating // still holds its address
	if p, _, err := d.allocateAddressLocked(n, "a"); err != nil || p.Addr().String() != "10.124.1.3" {
		t.Fatalf("after freeing .3: got %v, %v", p, err)
	}
}

// TestScaleInOrder: out-of-date machines go first, then the newest.
func TestScaleInOrder(t *testing.T) {
	d := &daemon{log: slog.New(slog.DiscardHandler), st: newState(), launching: map[string]bool{}, stopping: map[string]bool{}, closing: true, backoff: map[string]launchBackoff{}}
	d.st.LaunchConfigs["c/g"] = &cloud.LaunchConfig{Cluster: "c", Group: "g", ConfigVersion: "v2"}
	g := &group{InstanceGroup: cloud.InstanceGroup{Cluster: "c", Name: "g", MinSize: 0, MaxSize: 5, Desired: 2}}
	d.st.Groups["c/g"] = g
	t0 := time.Now()
	for i, v := range []struct {
		id, version string
	}{{"i-old", "v2"}, {"i-stale", "v1"}, {"i-mid", "v2"}, {"i-new", "v2"}} {
		d.st.Instances[v.id] = &instance{Instance: cloud.Instance{ID: v.id, Cluster: "c", Group: "g", State: cloud.StateRunning, ConfigVersion: v.version, LaunchTime: t0.Add(time.Duration(i) * time.Second)}}
	}
	d.scaleGroupLocked("c/g", g, time.Now())
	var terminating []string
	for id, inst := range d.st.Instances {
		if inst.State == cloud.StateTerminating {
			terminating = append(terminating, id)
		}
	}
	if len(terminating) != 2 || d.st.Instances["i-stale"].State != cloud.StateTerminating || d.st.Instances["i-new"].State != cloud.StateTerminating {
		t.Fatalf("scale in from 4 to 2 terminated %v; want i-stale and i-new", terminating)
	}
}

func TestConnectWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	_, err := Connect(context.Background(), ClientOptions{StateDir: dir, Socket: filepath.Join(dir, "none.sock")})
	if err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Fatalf("got %v", err)
	}
	// A daemon command that dies at once: the error shows its log.
	_, err = Connect(context.Background(), ClientOptions{StateDir: dir, Socket: filepath.Join(dir, "none.sock"), DaemonCommand: []string{"/bin/sh", "-c", "echo daemon-boom >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "daemon-boom") {
		t.Fatalf("got %v, want the daemon's log in the error", err)
	}
}

// TestConnectStartsDaemon: Connect starts a detached daemon (this test
// binary, see TestMain) and Shutdown stops it.
func TestConnectStartsDaemon(t *testing.T) {
	requireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state, socket := filepath.Join(dir, "state"), filepath.Join(dir, "d.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Connect(ctx, ClientOptions{StateDir: state, Socket: socket, DaemonCommand: []string{"/usr/bin/env", testDaemonEnv + "=" + state + ":" + socket, exe}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.FindNetwork(ctx, "nothing"); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The daemon releases its lock when it exits.
	var lockErr error
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		var unlock func()
		if unlock, lockErr = lockFile(filepath.Join(state, "daemon.lock")); lockErr == nil {
			unlock()
		}
		return lockErr == nil, nil
	})
	if lockErr != nil {
		t.Fatalf("daemon still holds its lock: %v", lockErr)
	}
	if data, _ := os.ReadFile(filepath.Join(state, "daemon.log")); !strings.Contains(string(data), "local cloud daemon started") {
		t.Errorf("daemon.log does not show the daemon starting:\n%s", data)
	}
}
