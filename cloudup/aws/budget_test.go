package aws_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/tests/awsemu/awsemu"
)

// withGroups is a cluster of 1 control plane and node groups spread over
// three zones, groups in all.
func withGroups(t *testing.T, groups int) *env {
	t.Helper()
	t.Helper()
	e := newEnv(t, newcluster.Options{Name: fmt.Sprintf("budget%d.example.com", groups), Zones: []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		NodeCount: 3}, awsemu.Options{})
	ctx := context.Background()
	zones := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	for i := 4; i < groups; i++ {
		one := int32(1)
		ig := &v1alpha1.InstanceGroup{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup},
			Metadata: v1alpha1.ObjectMeta{Name: fmt.Sprintf("pool-%02d", i), Labels: map[string]string{v1alpha1.LabelCluster: e.name}},
			Spec:     v1alpha1.InstanceGroupSpec{Role: v1alpha1.RoleNode, MinSize: &one, MaxSize: &one, Subnets: []string{zones[i%3]}},
		}
		if _, err := e.reg.PutInstanceGroup(ctx, e.name, ig, state.MustNotExist()); err != nil {
			t.Fatal(err)
		}
	}
	e.complete()
	if len(e.igs) != groups {
		t.Fatalf("%d groups, want %d", len(e.igs), groups)
	}
	return e
}

// planReads is the number of read calls one dry run makes.
func planReads(t *testing.T, e *env) (int, map[string]int) {
	t.Helper()
	e.srv.ResetRequests()
	out := e.update(false)
	if !strings.Contains(out, "Must specify --yes") && !strings.Contains(out, "No changes") {
		t.Fatalf("dry run output:\n%s", out)
	}
	reqs := e.srv.Requests()
	if m := mutating(reqs); len(m) > 0 {
		t.Fatalf("dry run made mutating calls: %v", m)
	}
	reads, _, by := calls(reqs)
	return reads, by
}

// TestDescribeBudget: the describes of a plan do not grow with the number
// of instance groups, on an empty account and on a built cluster.
func TestDescribeBudget(t *testing.T) {
	counts := map[string]map[int]int{}
	for _, n := range []int{5, 50} {
		e := withGroups(t, n)
		empty, by := planReads(t, e)
		t.Logf("%d groups, empty account: %d reads %v", n, empty, by)
		e.update(true)
		built, by := planReads(t, e)
		t.Logf("%d groups, built cluster: %d reads %v", n, built, by)
		if counts["empty"] == nil {
			counts["empty"], counts["built"] = map[int]int{}, map[int]int{}
		}
		counts["empty"][n], counts["built"][n] = empty, built
		e.delete()
	}
	for _, k := range []string{"empty", "built"} {
		if counts[k][5] != counts[k][50] {
			t.Errorf("%s: a plan of 5 groups made %d describe calls, of 50 groups %d", k, counts[k][5], counts[k][50])
		}
	}
	t.Logf("FIGURE aws describe calls per plan: %d (empty account), %d (built cluster), for 5 and for 50 instance groups",
		counts["empty"][50], counts["built"][50])
}
