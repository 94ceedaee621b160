package kubeapi

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// kube-proxy DaemonSets of two versions coexist during an upgrade: each
// runs only on the nodes of its version, and neither selects the other's
// pods.
func TestKubeProxyPerVersion(t *testing.T) {
	ds := func(v string) *appsv1.DaemonSet {
		t.Helper()
		for _, o := range KubeProxy(AddonConfig{KubernetesVersion: v, KubeProxyImage: "hull.local/kube-proxy:v" + v}) {
			if d, ok := o.Obj.(*appsv1.DaemonSet); ok {
				return d
			}
		}
		t.Fatalf("no DaemonSet for %s", v)
		return nil
	}
	old, cur := ds("1.36.3"), ds("1.37.2")
	if old.Name == cur.Name || cur.Name != "kube-proxy-v1-37-2" {
		t.Errorf("DaemonSet names %q and %q; want distinct, kube-proxy-v1-37-2 for 1.37.2", old.Name, cur.Name)
	}
	if got := cur.Spec.Template.Spec.NodeSelector[VersionLabel]; got != "1.37.2" {
		t.Errorf("1.37.2 DaemonSet selects nodes of version %q", got)
	}
	sel, err := labels.ValidatedSelectorFromSet(old.Spec.Selector.MatchLabels)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Matches(labels.Set(cur.Spec.Template.Labels)) {
		t.Error("the old DaemonSet's selector matches the new one's pods")
	}
}
