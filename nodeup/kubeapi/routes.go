package kubeapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// RouteProto marks the routes the controller owns (iproute2 "proto 99"),
// so it can find and remove stale ones after a restart.
const RouteProto = "99"

// Router changes the machine's routing table.
type Router interface {
	// List returns the pod routes the controller owns: CIDR -> gateway.
	List(ctx context.Context) (map[string]string, error)
	Replace(ctx context.Context, cidr, via string) error
	Delete(ctx context.Context, cidr string) error
}

// IPRoute is a Router using the ip command in nodeup's network namespace
// (on the local cloud, the machine's).
type IPRoute struct{}

func (IPRoute) ip(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (r IPRoute) List(ctx context.Context) (map[string]string, error) {
	out, err := r.ip(ctx, "-4", "route", "show", "proto", RouteProto)
	if err != nil {
		return nil, err
	}
	routes := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == "via" {
			routes[f[0]] = f[2]
		}
	}
	return routes, nil
}

func (r IPRoute) Replace(ctx context.Context, cidr, via string) error {
	_, err := r.ip(ctx, "route", "replace", cidr, "via", via, "proto", RouteProto)
	return err
}

func (r IPRoute) Delete(ctx context.Context, cidr string) error {
	_, err := r.ip(ctx, "route", "del", cidr, "proto", RouteProto)
	return err
}

// Routes keeps a route to every other node's pod CIDR via that node's
// InternalIP: host-gw style, since every machine sits on one L2 bridge.
type Routes struct {
	Kube   kubernetes.Interface
	Self   string
	Router Router
	Every  time.Duration
	Log    *slog.Logger
}

// Desired computes CIDR -> gateway from the nodes.
func Desired(nodes []corev1.Node, self string) map[string]string {
	want := map[string]string{}
	for _, n := range nodes {
		if n.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		if _, err := netip.ParsePrefix(n.Spec.PodCIDR); err != nil {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
					want[n.Spec.PodCIDR] = a.Address
					break
				}
			}
		}
	}
	return want
}

// Sync makes the table match the nodes once.
func (r *Routes) Sync(ctx context.Context) error {
	nodes, err := r.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	want := Desired(nodes.Items, r.Self)
	have, err := r.Router.List(ctx)
	if err != nil {
		return err
	}
	for cidr, via := range want {
		if have[cidr] == via {
			continue
		}
		if err := r.Router.Replace(ctx, cidr, via); err != nil {
			return err
		}
		r.Log.Info("pod route set", "cidr", cidr, "via", via)
	}
	for cidr := range have {
		if _, ok := want[cidr]; !ok {
			if err := r.Router.Delete(ctx, cidr); err != nil {
				return err
			}
			r.Log.Info("pod route removed", "cidr", cidr)
		}
	}
	return nil
}

// Run syncs every Every until ctx ends, logging failures.
func (r *Routes) Run(ctx context.Context) {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("pod route sync failed", "err", err)
		}
	}, r.Every)
}
