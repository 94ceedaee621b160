package commands

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/pkg/apis/codec"
)

const demo = "demo.example.com"

func TestVersionIsStamped(t *testing.T) {
	e := newEnv(t)
	if got := e.must("version"); got != "hull "+testVersion+"\n" {
		t.Errorf("version = %q", got)
	}
}

func TestCreateFromFileThenGet(t *testing.T) {
	e := newEnv(t)
	f := writeFile(t, e.dir, "c.yaml", sampleYAML(t))
	out := e.must("create", "-f", f)
	if !strings.Contains(out, "Created cluster "+demo) {
		t.Errorf("create output: %s", out)
	}

	// The user's spec is stored as written: no defaults filled in.
	stored, err := os.ReadFile(filepath.Join(strings.TrimPrefix(e.state, "file://"), demo, "config"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.DecodeCluster(stored)
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.ConfigBase != "" || c.Spec.API.PublicName != "" || c.Spec.Networking.ClusterDNSDomain != "" {
		t.Errorf("stored user spec was defaulted: %+v", c.Spec)
	}

	table := e.must("get", "clusters")
	if !strings.Contains(table, "NAME") || !strings.Contains(table, demo) || !strings.Contains(table, "1.37.2") || !strings.Contains(table, "local-a") {
		t.Errorf("get clusters table:\n%s", table)
	}

	var clusters []map[string]any
	decodeJSON(t, e.must("get", "clusters", "-o", "json"), &clusters)
	if len(clusters) != 1 || clusters[0]["kind"] != "Cluster" {
		t.Errorf("get clusters -o json: %v", clusters)
	}
	var one map[string]any
	decodeJSON(t, e.must("get", "clusters", demo, "-o", "json"), &one)
	if one["metadata"].(map[string]any)["name"] != demo {
		t.Errorf("get clusters NAME -o json: %v", one)
	}

	// -o yaml round-trips through the codec: it is valid input to replace.
	y := e.must("get", "clusters", demo, "-o", "yaml")
	if _, err := codec.DecodeAll([]byte(y)); err != nil {
		t.Errorf("get clusters -o yaml does not decode: %v\n%s", err, y)
	}

	igs := e.must("get", "instancegroups", "--name", demo)
	for _, want := range []string{"control-plane-a", "ControlPlane", "nodes-a", "Node", "local.small"} {
		if !strings.Contains(igs, want) {
			t.Errorf("get instancegroups lacks %q:\n%s", want, igs)
		}
	}
	igYAML := e.must("get", "ig", "nodes-a", "--name", demo, "-o", "yaml")
	objs, err := codec.DecodeAll([]byte(igYAML))
	if err != nil || len(objs.InstanceGroups) != 1 {
		t.Fatalf("get ig -o yaml: %v\n%s", err, igYAML)
	}

	// HULL_CLUSTER_NAME stands in for --name.
	e.extra = append(e.extra, "HULL_CLUSTER_NAME="+demo)
	if got := e.must("get", "instancegroups"); got != igs {
		t.Errorf("with HULL_CLUSTER_NAME:\n%s\nwant:\n%s", got, igs)
	}
}

func TestGetKeypairs(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	var rows []struct {
		Keyset, ID, Role, Type, Subject string
	}
	decodeJSON(t, e.must("get", "keypairs", "--name", demo, "-o", "json"), &rows)
	var names []string
	for _, r := range rows {
		names = append(names, r.Keyset)
		if r.ID == "" || r.Role != "primary" {
			t.Errorf("row %+v: want an id and role primary", r)
		}
	}
	want := []string{"etcd-clients-ca-events", "etcd-clients-ca-main", "etcd-peers-ca-events", "etcd-peers-ca-main", "front-proxy-ca", "kubernetes-ca", "service-account"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("keysets (-want +got):\n%s", diff)
	}
	table := e.must("get", "keypairs", "--name", demo)
	for _, col := range []string{"NAME", "ID", "TYPE", "SUBJECT", "EXPIRES", "kubernetes-ca"} {
		if !strings.Contains(table, col) {
			t.Errorf("keypairs table lacks %q:\n%s", col, table)
		}
	}
	// Private keys live only under pki/private; the issued copy has none.
	for _, f := range e.storeFiles() {
		if strings.Contains(f, "pki/issued/") {
			b, _ := os.ReadFile(filepath.Join(strings.TrimPrefix(e.state, "file://"), f))
			if strings.Contains(string(b), "PRIVATE KEY") {
				t.Errorf("%s holds a private key", f)
			}
		}
	}
	e.fails(1, []string{`keyset "nope" not found`, "kubernetes-ca"}, "get", "keypairs", "nope", "--name", demo)
}

func TestInvalidSpecWritesNothing(t *testing.T) {
	e := newEnv(t)
	bad := strings.Replace(sampleYAML(t), "cidr: 172.20.32.0/19", "cidr: 10.0.0.0/24", 1)
	bad = strings.Replace(bad, "minSize: 2\n  maxSize: 2", "minSize: 3\n  maxSize: 2", 1)
	r := e.fails(1, []string{
		"spec.networking.subnets[0].cidr",
		"not inside networkCIDR 172.20.0.0/16",
		"instanceGroups[nodes-a].spec.maxSize",
		"nothing was written",
	}, "create", "-f", writeFile(t, e.dir, "bad.yaml", bad))
	if !strings.Contains(r.stderr, "2 errors") {
		t.Errorf("want both errors reported together:\n%s", r.stderr)
	}
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("invalid create wrote %v", files)
	}
}

func TestBadDocumentsAreNamed(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct {
		from, to string
		want     string
	}{
		"unknown field": {"  channel: stable", "  channel: stable\n  chanel: beta", `unknown field "spec.chanel"`},
		"wrong kind":    {"kind: Cluster", "kind: Clusterr", `kind: unsupported value "Clusterr"`},
		"wrong version": {"apiVersion: hull.dev/v1alpha1\nkind: Cluster", "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster", `apiVersion: unsupported value "kops.k8s.io/v1alpha2"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			doc := strings.Replace(sampleYAML(t), tc.from, tc.to, 1)
			e.fails(1, []string{"document 1", tc.want}, "create", "-f", writeFile(t, e.dir, "x.yaml", doc))
			if files := e.storeFiles(); len(files) != 0 {
				t.Errorf("wrote %v", files)
			}
		})
	}
}

func TestMissingClusterListsExisting(t *testing.T) {
	e := newEnv(t)
	e.fails(1, []string{`cluster "nope" not found`, "no clusters exist"}, "get", "clusters", "nope")
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	e.fails(1, []string{`cluster "nope" not found`, "existing clusters: " + demo}, "get", "instancegroups", "--name", "nope")
	e.fails(1, []string{`instance group "nodes-b" not found`, "control-plane-a, nodes-a"}, "get", "ig", "nodes-b", "--name", demo)
}

func TestUnknownStateScheme(t *testing.T) {
	e := newEnv(t)
	e.state = "ftp://bucket/x"
	e.fails(1, []string{"ftp://", "file://", "s3://", "mem://"}, "get", "clusters")
}

func TestUsageErrorsExitTwo(t *testing.T) {
	e := newEnv(t)
	e.fails(2, []string{"unknown flag: --bogus"}, "get", "clusters", "--bogus")
	e.fails(2, []string{"cluster name required", EnvClusterName}, "get", "instancegroups")
	e.fails(2, []string{"--control-plane-count"}, "create", "cluster", demo, "--control-plane-count", "2", "--dry-run")
	e.fails(2, []string{"--bastion"}, "create", "cluster", demo, "--bastion", "--dry-run")
	e.fails(2, []string{"-o/--output", "table, yaml or json"}, "get", "clusters", "-o", "xml")
	e.fails(2, []string{"unknown command"}, "get", "widgets")
}

func TestCreateClusterDryRunWritesNothing(t *testing.T) {
	e := newEnv(t)
	out := e.must("create", "cluster", demo, "--control-plane-count", "3", "--zones", "local-a,local-b,local-c", "--dry-run", "-o", "yaml")
	objs, err := codec.DecodeAll([]byte(out))
	if err != nil {
		t.Fatalf("dry-run output does not decode: %v\n%s", err, out)
	}
	var cp int
	for _, ig := range objs.InstanceGroups {
		if ig.IsControlPlane() {
			cp++
		}
	}
	if len(objs.Clusters) != 1 || cp != 3 {
		t.Errorf("want 1 cluster and 3 control-plane groups, got %d and %d", len(objs.Clusters), cp)
	}
	var asJSON []map[string]any
	decodeJSON(t, e.must("create", "cluster", demo, "--dry-run", "-o", "json"), &asJSON)
	if len(asJSON) < 3 {
		t.Errorf("dry-run -o json: %v", asJSON)
	}
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("dry run wrote %v", files)
	}
}

func TestCreateClusterFromFlags(t *testing.T) {
	e := newEnv(t)
	out := e.must("create", "cluster", demo)
	if !strings.Contains(out, "hull update cluster "+demo+" --yes") {
		t.Errorf("create should say how to apply:\n%s", out)
	}
	e.fails(1, []string{"already exists"}, "create", "cluster", demo)
	igs := e.must("get", "ig", "--name", demo)
	if !strings.Contains(igs, "ControlPlane") || !strings.Contains(igs, "Node") {
		t.Errorf("groups:\n%s", igs)
	}
	priv := e.must("create", "cluster", "private.example.com", "--topology", "private", "--bastion")
	if !strings.Contains(priv, "private.example.com") {
		t.Error(priv)
	}
	if !strings.Contains(e.must("get", "ig", "--name", "private.example.com"), "Bastion") {
		t.Error("private cluster lacks a bastion group")
	}
}

func TestReplace(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	changed := strings.Replace(sampleYAML(t), "minSize: 2\n  maxSize: 2", "minSize: 3\n  maxSize: 5", 1)
	e.must("replace", "-f", writeFile(t, e.dir, "r.yaml", changed))
	if got := e.must("get", "ig", "nodes-a", "--name", demo, "-o", "yaml"); !strings.Contains(got, "maxSize: 5") {
		t.Errorf("replace did not apply:\n%s", got)
	}
	before := e.must("get", "ig", "--name", demo, "-o", "yaml")
	bad := strings.Replace(changed, "role: Node", "role: Bastion", 1)
	e.fails(1, []string{"instanceGroups[nodes-a].spec.role"}, "replace", "-f", writeFile(t, e.dir, "bad.yaml", bad))
	if after := e.must("get", "ig", "--name", demo, "-o", "yaml"); after != before {
		t.Errorf("invalid replace changed the store:\n%s", cmp.Diff(before, after))
	}
	other := strings.ReplaceAll(sampleYAML(t), demo, "other.example.com")
	e.fails(1, []string{`cluster "other.example.com" not found`}, "replace", "-f", writeFile(t, e.dir, "o.yaml", other))
	e.must("replace", "--force", "-f", writeFile(t, e.dir, "o.yaml", other))
}

func TestDeleteNeedsYes(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	before := e.storeFiles()
	out := e.must("delete", "cluster", demo)
	if !strings.Contains(out, "Must specify --yes") || !strings.Contains(out, demo+"/config") {
		t.Errorf("delete without --yes:\n%s", out)
	}
	if diff := cmp.Diff(before, e.storeFiles()); diff != "" {
		t.Errorf("delete without --yes changed the store:\n%s", diff)
	}
	// Removing the only Node group would leave an invalid cluster.
	e.fails(1, []string{"Node"}, "delete", "ig", "nodes-a", "--name", demo, "--yes")
	e.must("delete", "cluster", demo, "--yes")
	if files := e.storeFiles(); len(files) != 0 {
		t.Errorf("after delete: %v", files)
	}
	e.fails(1, []string{"not found"}, "get", "clusters", demo)
}

func TestCompletion(t *testing.T) {
	e := newEnv(t)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := e.must("completion", sh); !strings.Contains(out, "hull") {
			t.Errorf("completion %s printed no script", sh)
		}
	}
}

func TestStoreFilesAreOwnerOnly(t *testing.T) {
	e := newEnv(t)
	e.must("create", "-f", writeFile(t, e.dir, "c.yaml", sampleYAML(t)))
	root := strings.TrimPrefix(e.state, "file://")
	files := e.storeFiles()
	if !slices.Contains(files, filepath.Join(demo, "pki/private/kubernetes-ca/keyset.yaml")) {
		t.Fatalf("no private CA keyset in %v", files)
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want owner-only", f, st.Mode().Perm())
		}
	}
}
