package awscli

import (
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/state/statetest"
	"github.com/hullproject/hull/tests/harness"
)

var hullBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hull-aws-bin-")
	if err != nil {
		panic(err)
	}
	if hullBin, err = harness.Build(dir, "github.com/hullproject/hull/cmd/hull", "hull", ""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// image is the AMI instance groups default to for Kubernetes 1.37.2.
const image = "hull-kubernetes-1.37.2-amd64"

// newAWSEnv starts the emulator (with the default image registered) and a
// real S3 server (versitygw) for the state store, and points hull at them:
// each AWS service the provider uses at the emulator through its own
// AWS_ENDPOINT_URL_<SERVICE>, the state store at versitygw through its URL.
// Both take the same standard credential variables; the emulator ignores them.
func newAWSEnv(t *testing.T, o awstest.Options) (*awstest.Server, *harness.Env) {
	t.Helper()
	emu, e := newAWSEnvNoImage(t, o)
	emu.AddImage(image)
	return emu, e
}

// newAWSEnvNoImage is newAWSEnv without the default image.
func newAWSEnvNoImage(t *testing.T, o awstest.Options) (*awstest.Server, *harness.Env) {
	t.Helper()
	store := statetest.StartS3(t)
	emu := awstest.NewWithOptions(o)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, pointedAt(t, store, srv.URL)
}

// pointedAt is a hull environment with its state store in store and each
// AWS service it uses at endpoint, through its own
// AWS_ENDPOINT_URL_<SERVICE>.
func pointedAt(t *testing.T, store, endpoint string) *harness.Env {
	e := harness.NewEnv(t, hullBin)
	e.State = store
	e.Extra = append(e.Extra, "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=")
	for _, svc := range []string{"EC2", "AUTO_SCALING", "ELASTIC_LOAD_BALANCING_V2", "IAM", "ROUTE_53", "STS"} {
		e.Extra = append(e.Extra, "AWS_ENDPOINT_URL_"+svc+"="+endpoint)
	}
	return e
}

// isMutating tells reads from writes by the API's naming conventions.
func isMutating(action string) bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return true
}

// TestAWSLifecycle drives the real hull binary, with the standard AWS
// environment pointing at the emulator and at moto in turn: create, plan,
// apply, a second apply that changes nothing, and a delete that leaves the
// account empty.
func TestAWSLifecycle(t *testing.T) {
	forEachAccount(t, awstest.Options{}, testLifecycle)
}

func testLifecycle(t *testing.T, a *account, e *harness.Env) {
	const name = "aws.example.com"
	e.Must("create", "cluster", name, "--cloud", "aws", "--zones", "us-east-1a,us-east-1b,us-east-1c", "--control-plane-count", "3")

	a.calls.ResetRequests()
	plan := e.Must("update", "cluster", name)
	for _, want := range []string{"Will create resources:", "InstanceGroup/control-plane-a", "InstanceGroup/control-plane-c", "LoadBalancer/api",
		// What EnsureNetwork used to make unseen is listed too.
		"InternetGateway/" + name, "RouteTable/public." + name, "SecurityGroup/nodes." + name, "SecurityGroupRules/control-plane." + name,
		"IAMRole/nodes." + name, "IAMRolePolicy/control-plane." + name, "IAMInstanceProfile/nodes." + name, "Must specify --yes"} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	if m := a.mutatingCalls(); len(m) > 0 {
		t.Errorf("dry run made mutating calls %v", m)
	}

	e.Must("update", "cluster", name, "--yes")
	insts := e.Instances(name)
	if len(insts) == 0 {
		t.Fatal("no instances launched")
	}
	groups := map[string]bool{}
	for _, in := range insts {
		groups[in.Group] = true
	}
	for _, g := range []string{"control-plane-a", "control-plane-b", "control-plane-c"} {
		if !groups[g] {
			t.Errorf("no instance in group %s: %+v", g, insts)
		}
	}

	if held := a.leftovers(t); len(held) < 10 {
		t.Errorf("the account holds only %v after update: the leftover check cannot see the cluster", held)
	}

	a.calls.ResetRequests()
	if out := e.Must("update", "cluster", name, "--yes"); !strings.Contains(out, "No changes need to be applied") {
		t.Errorf("second update --yes:\n%s", out)
	}
	if m := a.mutatingCalls(); len(m) > 0 {
		t.Errorf("second update made mutating calls %v", m)
	}
	if len(a.calls.Requests()) == 0 {
		t.Error("second update made no call at all: the request log does not see the endpoint")
	}
	// Every resource reads back as made: the dry run has nothing to show.
	if out := e.Must("update", "cluster", name); !strings.Contains(out, "No changes need to be applied") || strings.Contains(out, "Will ") {
		t.Errorf("dry run after update --yes:\n%s", out)
	}

	out := e.Must("delete", "cluster", name)
	if !strings.Contains(out, "Must specify --yes") {
		t.Errorf("delete without --yes:\n%s", out)
	}
	e.Must("delete", "cluster", name, "--yes")
	if left := a.leftovers(t); len(left) > 0 {
		t.Errorf("left in the account after delete:\n%s", strings.Join(left, "\n"))
	}
}
