package kubeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hullproject/hull/nodeup/tasks"
)

// CNI describes the node's pod network: Debian's bridge plugin with
// host-local addresses from the node's pod CIDR, portmap for hostPorts, and
// firewall, which lets pod traffic through a FORWARD policy of DROP.
type CNI struct {
	Root     string
	ConfPath string // on the machine
	DataDir  string // host-local's, on the machine
	Node     string
	Clients  *Lazy
	Timeout  time.Duration
	Log      *slog.Logger
}

// Conflist renders the CNI config for a pod CIDR.
func Conflist(podCIDR, dataDir string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "hull",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": dataDir,
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "firewall", "backend": "iptables"},
		},
	}
	out, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Task writes the conflist once the controller-manager has given the node
// a pod CIDR; until then the node is NotReady, which is expected.
func (c *CNI) Task() tasks.Task {
	host := filepath.Join(c.Root, c.ConfPath)
	return &tasks.Func{
		TaskName: "cni/config", TaskPhase: tasks.PhaseCluster,
		CheckFn: func(context.Context) (tasks.Change, error) {
			d := []string{c.ConfPath + " mode 0644", "bridge cni0 + host-local (node's spec.podCIDR) + portmap + firewall"}
			if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
				return tasks.Change{Action: tasks.Create, Reason: "after the node has a pod CIDR", Details: d}, nil
			}
			return tasks.Change{Action: tasks.Ensure, Reason: "compare with the node's pod CIDR", Details: d}, nil
		},
		ApplyFn: func(ctx context.Context) error {
			var cidr string
			err := poll(ctx, c.Timeout, time.Second, c.Log, "node "+c.Node+" to get a pod CIDR", func() error {
				cl, err := c.Clients.Get(ctx)
				if err != nil {
					return err
				}
				n, err := cl.Kube.CoreV1().Nodes().Get(ctx, c.Node, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if n.Spec.PodCIDR == "" {
					return fmt.Errorf("node %s has no spec.podCIDR yet", c.Node)
				}
				cidr = n.Spec.PodCIDR
				return nil
			})
			if err != nil {
				return err
			}
			data, err := Conflist(cidr, c.DataDir)
			if err != nil {
				return err
			}
			if old, err := os.ReadFile(host); err == nil && string(old) == string(data) {
				return nil
			}
			c.Log.Info("writing CNI config", "podCIDR", cidr, "path", c.ConfPath)
			return tasks.WriteFileAtomic(host, data, 0o644)
		},
	}
}
