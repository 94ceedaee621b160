package nodeup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"

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
	// APIServer is the address machines use to reach the API (the load balancer's name).
	APIServer string `json:"apiServer,omitempty"`
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
