package kubeapi

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type fakeRouter struct{ routes map[string]string }

func (f *fakeRouter) List(context.Context) (map[string]string, error) {
	return maps.Clone(f.routes), nil
}
func (f *fakeRouter) Replace(_ context.Context, cidr, via string) error {
	f.routes[cidr] = via
	return nil
}
func (f *fakeRouter) Delete(_ context.Context, cidr string) error {
	delete(f.routes, cidr)
	return nil
}

func node(name, cidr, ip string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func TestRoutesSync(t *testing.T) {
	kube := fake.NewClientset(
		node("self", "100.96.0.0/24", "10.0.1.5"),
		node("a", "100.96.1.0/24", "10.0.1.6"),
		node("b", "", "10.0.1.7"),      // no pod CIDR yet
		node("c", "100.96.3.0/24", ""), // no address yet
	)
	r := &fakeRouter{routes: map[string]string{"100.96.9.0/24": "10.0.1.9", "100.96.1.0/24": "10.0.1.99"}}
	rt := &Routes{Kube: kube, Self: "self", Router: r, Log: slog.New(slog.DiscardHandler)}
	if err := rt.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"100.96.1.0/24": "10.0.1.6"}, r.routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

func TestConflistAndToken(t *testing.T) {
	data, err := Conflist("100.96.4.0/24", "/var/lib/cni/networks")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type": "bridge"`, `"subnet": "100.96.4.0/24"`, `"type": "portmap"`, `"type": "firewall"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("conflist lacks %s:\n%s", want, data)
		}
	}
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseToken(tok.String()); err != nil {
		t.Errorf("NewToken made %q: %v", tok, err)
	}
}
