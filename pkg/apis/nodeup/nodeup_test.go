package nodeup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigRoundTripAndHash(t *testing.T) {
	c := &Config{ClusterName: "demo", InstanceGroup: "nodes-a", Role: "Node", KubernetesVersion: "1.37.2", Image: "img", ConfigBase: "file:///s/demo"}
	data, hash, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	u := &UserData{ClusterName: "demo", InstanceGroup: "nodes-a", Role: "Node", StateStore: "file:///s", ConfigKey: ConfigKey("demo", "nodes-a", hash), ConfigHash: hash}
	ud, err := u.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pu, err := ParseUserData(ud)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyConfig(pu, data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	// Any change to the config changes its hash.
	c.KubernetesVersion = "1.37.3"
	_, hash2, _ := c.Encode()
	if hash2 == hash {
		t.Error("hash did not change with the config")
	}
}

func TestVerifyRefusesMismatch(t *testing.T) {
	c := &Config{ClusterName: "demo"}
	data, hash, _ := c.Encode()
	u := &UserData{ConfigKey: "demo/nodeup/x.yaml", ConfigHash: hash}
	tampered := append([]byte{}, data...)
	tampered = append(tampered, []byte("role: ControlPlane\n")...)
	_, err := VerifyConfig(u, tampered)
	if err == nil || !strings.Contains(err.Error(), "demo/nodeup/x.yaml") || !strings.Contains(err.Error(), hash) {
		t.Errorf("want a mismatch error naming the key and the expected hash, got %v", err)
	}
}

func TestParseUserDataNamesMissingField(t *testing.T) {
	_, err := ParseUserData([]byte("clusterName: demo\ninstanceGroup: a\nstateStore: s\nconfigKey: k\n"))
	if err == nil || !strings.Contains(err.Error(), "configHash") {
		t.Errorf("got %v", err)
	}
	if _, err := ParseUserData([]byte("clusterName: demo\nbogus: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown field: %v", err)
	}
}
