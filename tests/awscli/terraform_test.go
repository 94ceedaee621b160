package awscli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// goldenFiles splits a terraform golden (cloudup/aws/terraform/testdata)
// into its files: "=== name ===" lines start each one.
func goldenFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	header := regexp.MustCompile(`(?m)^=== (.+) ===\n`)
	idx := header.FindAllStringSubmatchIndex(string(b), -1)
	for i, m := range idx {
		end := len(b)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out[string(b[m[2]:m[3]])] = string(b[m[1]:end])
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no files", path)
	}
	return out
}

// TestTerraformTarget: `update cluster --target terraform --out DIR`
// without --yes (as kops) writes, for the cluster the public-3cp golden
// pins, *.tf.json files that are valid JSON and equal to the golden, and
// the user-data of every group, whose nodeup config is in the state store
// with the hash the user-data names. It makes no AWS call at all.
func TestTerraformTarget(t *testing.T) {
	emu, e := newAWSEnv(t, awstest.Options{})
	const name = "three.example.com" // the golden's cluster
	e.Must("create", "cluster", name, "--cloud", "aws", "--zones", "us-east-1a,us-east-1b,us-east-1c", "--control-plane-count", "3",
		"--dns-zone", "example.com")
	emu.ResetRequests()

	dir := filepath.Join(t.TempDir(), "tf")
	out := e.Must("update", "cluster", name, "--target", "terraform", "--out", dir)
	if !strings.Contains(out, "terraform apply") {
		t.Errorf("output does not say how to apply:\n%s", out)
	}
	reqs := emu.Requests()
	for _, r := range reqs {
		if isMutating(r.Action) {
			t.Errorf("--target terraform made mutating call %s %s", r.Service, r.Action)
		}
	}
	if len(reqs) != 0 {
		t.Errorf("--target terraform made %d AWS calls, want none: %+v", len(reqs), reqs)
	}
	if left := emu.Leftovers(); len(left) > 0 {
		t.Errorf("the emulator holds resources: %v", left)
	}

	golden := goldenFiles(t, filepath.Join("..", "..", "cloudup", "aws", "terraform", "testdata", "public-3cp.golden"))
	var got, want []string
	for n := range golden {
		want = append(want, n)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("files written (-golden +got):\n%s", d)
	}

	store, err := state.Open(context.Background(), e.State)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	// The resources carry the identity `create cluster` recorded and this
	// store; the golden has fixed ones (terraform_test.go's GoldenOwner).
	id, _, err := store.Get(ctx, registry.ClusterIDKey(name))
	if err != nil {
		t.Fatalf("the cluster has no identity: %v", err)
	}
	storeTag := awsmodel.StoreTagValue(e.State)
	if storeTag == "" {
		t.Fatalf("state store %s makes no tag value", e.State)
	}
	asGolden := strings.NewReplacer(`"`+strings.TrimSpace(string(id))+`"`, `"7b0c6f0e-1d2a-4f5b-9c3e-8a4d2e6f1b70"`,
		`"`+storeTag+`"`, `"s3://hull-state"`)
	for _, n := range got {
		body, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(n, ".tf.json") {
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Errorf("%s is not valid JSON: %v", n, err)
			}
			if d := cmp.Diff(golden[n], asGolden.Replace(string(body))); d != "" {
				t.Errorf("%s (-golden +got):\n%s", n, d)
			}
			continue
		}
		// User-data names the state store it was written with, so it
		// differs from the golden's; what it names must be in the store.
		ud, err := nodeup.ParseUserData(body)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if ud.StateStore != e.State {
			t.Errorf("%s: state store %q, want %q", n, ud.StateStore, e.State)
		}
		cfg, _, err := store.Get(ctx, ud.ConfigKey)
		if err != nil {
			t.Errorf("%s: nodeup config %s is not in the state store: %v", n, ud.ConfigKey, err)
			continue
		}
		if _, err := nodeup.VerifyConfig(ud, cfg); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, _, err := store.Get(ctx, name+"/cluster-completed.spec"); err != nil {
		t.Errorf("completed spec not written: %v", err)
	}

	// A second run into the same directory writes the same bytes, and
	// drops the user-data of a group that no longer exists.
	before := readAll(t, dir)
	stale := filepath.Join(dir, "data", "aws_launch_template_gone-three-example-com_user_data")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.Must("update", "cluster", name, "--target", "terraform", "--out", dir)
	if d := cmp.Diff(before, readAll(t, dir)); d != "" {
		t.Errorf("second run changed the output (-first +second):\n%s", d)
	}
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUpdateFlags: bad --target/--out combinations are usage errors (exit
// 2) that name the flag, and nothing is written.
func TestUpdateFlags(t *testing.T) {
	_, e := newAWSEnv(t, awstest.Options{})
	e.Must("create", "cluster", "aws.example.com", "--cloud", "aws", "--zones", "us-east-1a")
	e.Must("create", "cluster", "local.example.com", "--cloud", "local")
	out := filepath.Join(t.TempDir(), "tf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"aws.example.com", "--target", "cloudformation"}, `--target must be direct or terraform, got "cloudformation"`},
		{[]string{"aws.example.com", "--target", "terraform"}, "--out is required with --target terraform"},
		{[]string{"aws.example.com", "--out", out}, "--out is only used with --target terraform"},
		{[]string{"aws.example.com", "--target", "terraform", "--out", out, "--prune"}, "--prune is only used with --target direct"},
		{[]string{"local.example.com", "--target", "terraform", "--out", out}, `--target terraform: cluster local.example.com runs on cloud "local"`},
	} {
		r := e.Run(append([]string{"update", "cluster"}, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("update cluster %v: exit %d, stderr:\n%s\nwant exit 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	// Machines Terraform launches need a name for the API that exists
	// before the load balancer does.
	if r := e.Run("update", "cluster", "aws.example.com", "--target", "terraform", "--out", out); r.Code == 0 ||
		!strings.Contains(r.Stderr, "spec.dnsZone is required with --target terraform") {
		t.Errorf("terraform without a DNS zone: exit %d, stderr:\n%s", r.Code, r.Stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after refused runs: %v", out, err)
	}
}
