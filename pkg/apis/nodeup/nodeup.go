package nodeup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// UserData is what a machine is launched with: just enough to find and
// check its nodeup config in the state store.
type UserData struct {
	ClusterName   string `json:"clusterName"`
	InstanceGroup string `json:"instanceGroup"`
	Role          string `json:"role"`
	// StateStore is the store URL (not the cluster's config base).
	StateStore string `json:"stateStore"`
	// ConfigKey is the key of the nodeup config in the store.
	ConfigKey string `json:"configKey"`
	// ConfigHash is the sha256 (hex) of the config's bytes; nodeup refuses a config that does not match.
	ConfigHash string `json:"configHash"`
}

// Config is everything nodeup needs to turn a machine into a node of its
// group. It is content-addressed in the state store: a change makes a new
// object and a new ConfigHash, and so a new config version for the group.
type Config struct {
	ClusterName       string            `json:"clusterName"`
	InstanceGroup     string            `json:"instanceGroup"`
	Role              string            `json:"role"`
	KubernetesVersion string            `json:"kubernetesVersion"`
	Image             string            `json:"image"`
	ConfigBase        string            `json:"configBase"`
	NodeLabels        map[string]string `json:"nodeLabels,omitempty"`
	Taints            []string          `json:"taints,omitempty"`
	// APIServer is the host:port machines use to reach the API (the load balancer).
	APIServer string `json:"apiServer,omitempty"`

	// Networking, from the completed spec.
	NetworkCIDR           string `json:"networkCIDR,omitempty"`
	PodCIDR               string `json:"podCIDR,omitempty"`
	ServiceClusterIPRange string `json:"serviceClusterIPRange,omitempty"`
	ClusterDNSDomain      string `json:"clusterDNSDomain,omitempty"`
	// KubernetesServiceIP is the first address of the service range; DNSServiceIP the tenth.
	KubernetesServiceIP string `json:"kubernetesServiceIP,omitempty"`
	DNSServiceIP        string `json:"dnsServiceIP,omitempty"`

	// APIServerNames are extra names and addresses the apiserver certificate
	// must carry (public name, additional SANs, the LB address).
	APIServerNames []string `json:"apiServerNames,omitempty"`

	// EtcdClusters, on control-plane machines.
	EtcdClusters []EtcdCluster `json:"etcdClusters,omitempty"`

	// Per-component extra flags (without leading dashes).
	KubeAPIServerArgs         map[string]string `json:"kubeAPIServerArgs,omitempty"`
	KubeControllerManagerArgs map[string]string `json:"kubeControllerManagerArgs,omitempty"`
	KubeSchedulerArgs         map[string]string `json:"kubeSchedulerArgs,omitempty"`
	KubeletArgs               map[string]string `json:"kubeletArgs,omitempty"`
	MaxPods                   int32             `json:"maxPods,omitempty"`

	// AssetsRepository, when set, is where an unbaked image fetches assets
	// (file:// or https://), checking each sha256 against AssetsManifest.
	AssetsRepository string `json:"assetsRepository,omitempty"`

	// RegistryMirrors (host, or "*" for every host -> mirror URLs) and
	// ContainerRegistry, from spec.containerd and spec.assets: nodeup
	// writes containerd's hosts.toml files from them.
	RegistryMirrors   map[string][]string `json:"registryMirrors,omitempty"`
	ContainerRegistry string              `json:"containerRegistry,omitempty"`
}

// EtcdCluster is one etcd cluster as nodeup runs it.
type EtcdCluster struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Members maps member name to the control-plane group it runs on.
	Members []EtcdMember `json:"members"`
	// ClientPort and PeerPort differ per cluster so main and events share a machine.
	ClientPort int `json:"clientPort"`
	PeerPort   int `json:"peerPort"`
	// Backups drive the etcd manager's schedule; nil keeps its defaults.
	Backups *EtcdBackups `json:"backups,omitempty"`
}

// EtcdBackups is the completed backup policy of one etcd cluster.
type EtcdBackups struct {
	Interval   metav1.Duration `json:"interval"`
	KeepAllFor metav1.Duration `json:"keepAllFor"`
	HourlyFor  metav1.Duration `json:"hourlyFor"`
	DailyFor   metav1.Duration `json:"dailyFor"`
}

// EtcdMember places a member on a group.
type EtcdMember struct {
	Name          string `json:"name"`
	InstanceGroup string `json:"instanceGroup"`
}

// Encode returns the config's canonical bytes and their sha256 (hex).
func (c *Config) Encode() ([]byte, string, error) {
	data, err := yaml.Marshal(c)
	if err != nil {
		return nil, "", fmt.Errorf("encode nodeup config: %w", err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// ConfigKey is where a group's nodeup config with the given hash lives.
func ConfigKey(cluster, group, hash string) string {
	return path.Join(cluster, "nodeup", group, hash+".yaml")
}

// Encode returns the user-data bytes.
func (u *UserData) Encode() ([]byte, error) {
	data, err := yaml.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("encode user-data: %w", err)
	}
	return data, nil
}

// ParseUserData reads user-data, insisting on every field.
func ParseUserData(data []byte) (*UserData, error) {
	var u UserData
	if err := yaml.UnmarshalStrict(data, &u); err != nil {
		return nil, fmt.Errorf("parse user-data: %w", err)
	}
	for name, v := range map[string]string{"clusterName": u.ClusterName, "instanceGroup": u.InstanceGroup, "stateStore": u.StateStore, "configKey": u.ConfigKey, "configHash": u.ConfigHash} {
		if v == "" {
			return nil, fmt.Errorf("user-data: %s is required", name)
		}
	}
	return &u, nil
}

// VerifyConfig checks data against the hash in the user-data and decodes it.
func VerifyConfig(u *UserData, data []byte) (*Config, error) {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != u.ConfigHash {
		return nil, fmt.Errorf("nodeup config %s has sha256 %s but the user-data expects %s: refusing to run a config this machine was not launched with", u.ConfigKey, got, u.ConfigHash)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("parse nodeup config %s: %w", u.ConfigKey, err)
	}
	return &c, nil
}
