package kubetest_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/pkg/kube/kubetest"
)

func TestStart(t *testing.T) {
	s := kubetest.Start(t)
	ctx := context.Background()

	ns, err := s.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces as admin: %v", err)
	}
	if len(ns.Items) == 0 {
		t.Fatal("no namespaces")
	}
	for _, pc := range []string{"system-cluster-critical", "system-node-critical"} {
		if _, err := s.Client().SchedulingV1().PriorityClasses().Get(ctx, pc, metav1.GetOptions{}); err != nil {
			t.Errorf("priority class %s: %v", pc, err)
		}
	}

	// A user outside system:masters is authenticated but has no rights.
	nobody, err := kubernetes.NewForConfig(s.UserConfig("nobody", "some-group"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nobody.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list namespaces as nobody: got %v, want Forbidden", err)
	}

	s.Stop()
	if _, err := s.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil {
		t.Error("list namespaces after Stop succeeded")
	}
}
