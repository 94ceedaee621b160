package cloudup

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hullproject/hull/pkg/cloud"
)

// stubbornCloud has a network whose delete reports success but leaves it
// (and an IAM role) behind, as an eventually consistent cloud might.
type stubbornCloud struct {
	DeleteCloud // unused methods panic
	deletes     int
	adopted     bool
}

func (s *stubbornCloud) FindLoadBalancer(context.Context, string, string) (*cloud.LoadBalancer, error) {
	return nil, nil
}
func (s *stubbornCloud) FindInstanceGroups(context.Context, string) ([]*cloud.InstanceGroup, error) {
	return nil, nil
}
func (s *stubbornCloud) FindLaunchConfigs(context.Context, string) ([]*cloud.LaunchConfig, error) {
	return nil, nil
}
func (s *stubbornCloud) FindNetwork(_ context.Context, cluster string) (*cloud.Network, error) {
	return &cloud.Network{Cluster: cluster, ID: "vpc-1", Adopted: s.adopted}, nil
}
func (s *stubbornCloud) DeleteNetwork(context.Context, string) error { s.deletes++; return nil }
func (s *stubbornCloud) FindExtras(context.Context, string) ([]string, error) {
	if s.adopted {
		return nil, nil
	}
	return []string{"IAMRole/nodes.x"}, nil
}

// TestDeleteReportsWhatIsLeft: a delete whose every step succeeded still
// fails, naming what is there when it looks again; an adopted network
// outlives the cluster and is no leftover.
func TestDeleteReportsWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	p := &stubbornCloud{}
	res, err := FindCloudResources(ctx, p, "x")
	if err != nil {
		t.Fatal(err)
	}
	err = DeleteCloudResources(ctx, p, "x", res, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "still there after delete: Network/x, IAMRole/nodes.x") || p.deletes != 1 {
		t.Errorf("delete: %v (%d network deletes)", err, p.deletes)
	}

	p = &stubbornCloud{adopted: true}
	res, err = FindCloudResources(ctx, p, "x")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Empty() || !strings.Contains(strings.Join(res.Keys(), " "), "adopted vpc-1") {
		t.Errorf("adopted network: empty %v, keys %v", res.Empty(), res.Keys())
	}
	if err := DeleteCloudResources(ctx, p, "x", res, &bytes.Buffer{}); err != nil || p.deletes != 1 {
		t.Errorf("delete with an adopted network: %v (%d network deletes)", err, p.deletes)
	}
}
