package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/assets"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

const testCluster = "demo.example.com"

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testConfig is a fixed nodeup config for a group.
func testConfig(group, role string) *nodeup.Config {
	c := &nodeup.Config{
		ClusterName: testCluster, InstanceGroup: group, Role: role, KubernetesVersion: "1.37.2",
		Image: "hull-1.37.2", ConfigBase: "mem://nodeup-test/" + testCluster,
		NodeLabels: map[string]string{"hull.dev/instancegroup": group},
		APIServer:  "10.0.1.1:443", NetworkCIDR: "10.0.0.0/16", PodCIDR: "100.96.0.0/11",
		ServiceClusterIPRange: "100.64.0.0/13", ClusterDNSDomain: "cluster.local",
		KubernetesServiceIP: "100.64.0.1", DNSServiceIP: "100.64.0.10",
		APIServerNames: []string{"api.demo.example.com", "10.0.1.1"},
		// The local cloud's default: its registry mirrors every host.
		RegistryMirrors: map[string][]string{"*": {"http://10.0.1.1:5000"}},
	}
	if role == "ControlPlane" {
		// Mirrors for one host, and an air-gapped container registry.
		c.RegistryMirrors = map[string][]string{"docker.io": {"https://mirror.example.com", "http://10.0.1.1:5000"}}
		c.ContainerRegistry = "registry.example.com/hull"
		c.EtcdClusters = []nodeup.EtcdCluster{
			{Name: "main", Version: "3.6.16", ClientPort: 2379, PeerPort: 2380, Members: []nodeup.EtcdMember{{Name: "a", InstanceGroup: group}}},
			{Name: "events", Version: "3.6.16", ClientPort: 2382, PeerPort: 2381, Members: []nodeup.EtcdMember{{Name: "a", InstanceGroup: group}}},
		}
	}
	return c
}

// env is a seeded store, a user-data file and an asset repository.
type env struct {
	store     *state.Store
	storeURL  string
	dir       string
	assetsDir string
	keysets   map[string]*pki.Keyset
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	url := "mem://" + strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	st, err := state.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{store: st, storeURL: url, dir: t.TempDir(), keysets: map[string]*pki.Keyset{}}
	keysets, err := pki.NewClusterKeysets(testCluster, []string{"main", "events"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, ks := range keysets {
		priv, err := ks.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ks.MarshalPublic()
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, st, registry.PrivateKeysetKey(testCluster, ks.Name), priv)
		mustPut(t, st, registry.IssuedKeysetKey(testCluster, ks.Name), pub)
		e.keysets[ks.Name] = ks
	}
	e.assetsDir = filepath.Join(e.dir, "assets")
	writeRepo(t, e.assetsDir)
	return e
}

func mustPut(t *testing.T, st *state.Store, key string, data []byte) {
	t.Helper()
	if _, err := st.Put(context.Background(), key, data, state.Unconditional()); err != nil {
		t.Fatal(err)
	}
}

// userData stores cfg and writes user-data pointing at it.
func (e *env) userData(t *testing.T, cfg *nodeup.Config) string {
	t.Helper()
	data, hash, err := cfg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	key := nodeup.ConfigKey(cfg.ClusterName, cfg.InstanceGroup, hash)
	mustPut(t, e.store, key, data)
	ud := &nodeup.UserData{ClusterName: cfg.ClusterName, InstanceGroup: cfg.InstanceGroup, Role: cfg.Role, StateStore: e.storeURL, ConfigKey: key, ConfigHash: hash}
	raw, err := ud.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, cfg.InstanceGroup+"-user-data.yaml")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRepo writes a small but complete-looking asset repository.
func writeRepo(t *testing.T, dir string) {
	t.Helper()
	m := assets.Manifest{KubernetesVersion: "v1.37.2", EtcdVersion: "3.6.16"}
	add := func(name string) string {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte("fake " + name + "\n")
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		return hex.EncodeToString(sum[:])
	}
	for _, f := range []string{"bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr", "bin/runc", "bin/kubelet", "bin/kubectl",
		"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap", "cni/firewall"} {
		m.Files = append(m.Files, assets.File{Name: f, SHA256: add(f), Size: int64(len("fake " + f + "\n"))})
	}
	for name, ref := range map[string]string{
		"pause": "registry.k8s.io/pause:3.10", "kube-apiserver": "hull.local/kube-apiserver:v1.37.2",
		"kube-controller-manager": "hull.local/kube-controller-manager:v1.37.2", "kube-scheduler": "hull.local/kube-scheduler:v1.37.2",
		"kube-proxy": "hull.local/kube-proxy:v1.37.2", "etcd": "hull.local/etcd:v3.6.16", "coredns": "hull.local/coredns:v1.15.0",
	} {
		f := "images/" + name + ".tar"
		m.Images = append(m.Images, assets.Image{Name: ref, File: f, Digest: "sha256:0", SHA256: add(f)})
	}
	sort.Slice(m.Images, func(i, j int) bool { return m.Images[i].File < m.Images[j].File })
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, assets.ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// options for a machine of a role.
func (e *env) options(t *testing.T, cfg *nodeup.Config, host, addr string) (Options, *bytes.Buffer) {
	out := &bytes.Buffer{}
	return Options{
		UserData: e.userData(t, cfg), Root: filepath.Join(e.dir, "root-"+host), AssetsDir: e.assetsDir,
		Hostname: host, InstanceID: host, Address: addr, CgroupRoot: "/hull/" + testCluster + "/" + host, Cloud: "local",
		Out: out, Now: func() time.Time { return testNow },
	}, out
}
