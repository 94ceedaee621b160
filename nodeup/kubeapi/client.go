package kubeapi

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// FieldManager owns the fields nodeup applies.
const FieldManager = "hull-nodeup"

// Clients talk to the API with one kubeconfig.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
}

// Connect builds clients from a kubeconfig file, waiting until it loads:
// a worker's kubeconfig, and the client certificate it names, appear only
// when TLS bootstrap completes.
func Connect(ctx context.Context, kubeconfig string, timeout time.Duration) (*Clients, error) {
	var cfg *rest.Config
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(context.Context) (bool, error) {
		cfg, lastErr = clientcmd.BuildConfigFromFlags("", kubeconfig)
		return lastErr == nil, nil
	})
	switch {
	case err == nil:
		return NewClients(cfg)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("load kubeconfig %s (waited %s): %w", kubeconfig, timeout, lastErr)
}

// NewClients builds clients from a REST config.
func NewClients(cfg *rest.Config) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = 15 * time.Second
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Kube: kc, Dynamic: dc}, nil
}

// Apply server-side applies typed objects, forcing ownership of the fields
// nodeup sets: idempotent, and it leaves fields others own alone.
func (c *Clients) Apply(ctx context.Context, objs ...Object) error {
	for _, o := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.Obj)
		if err != nil {
			return fmt.Errorf("convert %s: %w", o, err)
		}
		obj := &unstructured.Unstructured{Object: u}
		obj.SetAPIVersion(o.GVR.GroupVersion().String())
		obj.SetKind(o.Kind)
		unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(obj.Object, "status")
		data, err := obj.MarshalJSON()
		if err != nil {
			return fmt.Errorf("encode %s: %w", o, err)
		}
		force := true
		ri := c.Dynamic.Resource(o.GVR)
		var r dynamic.ResourceInterface = ri
		if ns := obj.GetNamespace(); ns != "" {
			r = ri.Namespace(ns)
		}
		if _, err := r.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: FieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply %s: %w", o, err)
		}
	}
	return nil
}

// Object is a typed object with its resource.
type Object struct {
	GVR  schema.GroupVersionResource
	Kind string
	Name string
	Obj  runtime.Object
}

func (o Object) String() string { return o.Kind + "/" + o.Name }

// IsNotFound is re-exported for callers.
func IsNotFound(err error) bool { return apierrors.IsNotFound(err) }
