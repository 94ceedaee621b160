package model

import (
	"context"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/hullproject/hull/nodeup/etcdmember"
	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/apis/nodeup"
)

// MemberName is the member of ec that runs on this machine's group.
func MemberName(c *nodeup.Config, ec *nodeup.EtcdCluster) (string, error) {
	for _, m := range ec.Members {
		if m.InstanceGroup == c.InstanceGroup {
			return m.Name, nil
		}
	}
	return "", fmt.Errorf("etcd cluster %s has no member on instance group %s", ec.Name, c.InstanceGroup)
}

// etcdMetricsPort serves /health over plain HTTP on loopback for the
// kubelet's probe: the client port demands a client certificate. main and
// events use 2379-2382, so metrics sit 100 above the client port.
func etcdMetricsPort(ec *nodeup.EtcdCluster) int { return ec.ClientPort + 100 }

// EtcdClusters describes this machine's part in each etcd cluster.
func EtcdClusters(in *Input) ([]*etcdmember.Cluster, error) {
	reg := &etcdmember.Registry{Store: in.Store, Cluster: in.Config.ClusterName}
	var out []*etcdmember.Cluster
	addr := in.Facts.Address.String()
	for i := range in.Config.EtcdClusters {
		ec := &in.Config.EtcdClusters[i]
		name, err := MemberName(in.Config, ec)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, m := range ec.Members {
			names = append(names, m.Name)
		}
		cert, key := EtcdClientPair(ec.Name)
		out = append(out, &etcdmember.Cluster{
			Registry: reg,
			Name:     ec.Name,
			Self: &etcdmember.Member{
				Name: name, InstanceID: in.Facts.InstanceID, Address: addr,
				PeerURL:   "https://" + hostPortStr(addr, ec.PeerPort),
				ClientURL: "https://" + hostPortStr(addr, ec.ClientPort),
			},
			Members: names,
			TLS: etcdmember.TLSFiles{
				Cert: filepath.Join(in.Root, cert), Key: filepath.Join(in.Root, key),
				CA: filepath.Join(in.Root, etcdPKI(ec.Name), "ca.crt"),
			},
			DataDir: filepath.Join(in.Root, EtcdDataDir, ec.Name),
			Log:     in.Log,
		})
	}
	return out, nil
}

func hostPortStr(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// EtcdTasks builds the etcd phase: register, wait for the peers, write the
// static pod; for each etcd cluster in turn.
func EtcdTasks(in *Input) ([]tasks.Task, error) {
	if !in.IsControlPlane() {
		return nil, nil
	}
	clusters, err := EtcdClusters(in)
	if err != nil {
		return nil, err
	}
	var list []tasks.Task
	for i, c := range clusters {
		ec := &in.Config.EtcdClusters[i]
		image, err := in.Assets.Image("etcd")
		if err != nil {
			return nil, err
		}
		list = append(list, c.Register(), c.WaitMembers(), &tasks.File{
			TaskName: "manifests/etcd-" + ec.Name, TaskPhase: tasks.PhaseEtcd, Root: in.Root,
			Path: path.Join(ManifestsDir, "etcd-"+ec.Name+".yaml"), Mode: 0o644,
			Content: func(ctx context.Context) ([]byte, error) {
				initial, st, err := c.InitialCluster(ctx)
				if err != nil {
					return nil, err
				}
				return etcdPod(in, ec, c.Self, image, initial, st).render()
			},
		})
	}
	return list, nil
}

// EtcdArgs are the flags of one etcd member.
func EtcdArgs(in *Input, ec *nodeup.EtcdCluster, self *etcdmember.Member, initial, initialState string) map[string]string {
	dir := etcdPKI(ec.Name)
	addr := in.Facts.Address.String()
	return map[string]string{
		"name":                        self.Name,
		"data-dir":                    path.Join(EtcdDataDir, ec.Name),
		"listen-client-urls":          self.ClientURL + ",https://" + hostPortStr("127.0.0.1", ec.ClientPort),
		"advertise-client-urls":       self.ClientURL,
		"listen-peer-urls":            "https://" + hostPortStr(addr, ec.PeerPort),
		"initial-advertise-peer-urls": self.PeerURL,
		"initial-cluster":             initial,
		"initial-cluster-state":       initialState,
		"initial-cluster-token":       in.Config.ClusterName + "-" + ec.Name,
		"listen-metrics-urls":         "http://" + hostPortStr("127.0.0.1", etcdMetricsPort(ec)),
		// Clients and peers authenticate with certificates from this etcd
		// cluster's own CAs; the Kubernetes CA means nothing here.
		"client-cert-auth":      "true",
		"trusted-ca-file":       path.Join(dir, "ca.crt"),
		"cert-file":             path.Join(dir, "server.crt"),
		"key-file":              path.Join(dir, "server.key"),
		"peer-client-cert-auth": "true",
		"peer-trusted-ca-file":  path.Join(dir, "peer-ca.crt"),
		"peer-cert-file":        path.Join(dir, "peer.crt"),
		"peer-key-file":         path.Join(dir, "peer.key"),
		"quota-backend-bytes":   "2147483648",
		"snapshot-count":        "10000",
	}
}

func etcdPod(in *Input, ec *nodeup.EtcdCluster, self *etcdmember.Member, image, initial, st string) staticPod {
	data := path.Join(EtcdDataDir, ec.Name)
	return staticPod{
		name:     "etcd-" + ec.Name,
		image:    image,
		command:  "/usr/local/bin/etcd",
		args:     EtcdArgs(in, ec, self, initial, st),
		mounts:   []string{etcdPKI(ec.Name), data},
		writable: []string{data},
		cpu:      "100m",
		probe:    httpProbe(corev1.URISchemeHTTP, etcdMetricsPort(ec), "/health"),
	}
}
