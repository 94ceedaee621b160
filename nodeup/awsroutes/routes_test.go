package awsroutes

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/cloudup/aws/awstest"
)

const cluster = "routes.example.com"

type world struct {
	t      *testing.T
	srv    *awstest.Server
	ec2    *ec2.Client
	tables []string // tagged for the cluster
	other  string   // a route table of another cluster
	insts  map[string]string
}

func tags(k, v string, typ ec2types.ResourceType) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: typ, Tags: []ec2types.Tag{{Key: aws.String(k), Value: aws.String(v)}}}}
}

// newWorld is a VPC with two subnets, two route tables tagged for the
// cluster, one tagged for another, and three instances of the cluster.
func newWorld(t *testing.T) *world {
	t.Helper()
	srv := awstest.New()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(awstest.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")),
		config.WithBaseEndpoint(ts.URL), config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: srv, ec2: ec2.NewFromConfig(cfg), insts: map[string]string{}}
	ctx := context.Background()
	ami := srv.AddImage("node")
	vpc, err := w.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("172.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, z := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := w.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(z),
			CidrBlock: aws.String([]string{"172.20.32.0/19", "172.20.64.0/19"}[i])})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	for _, owner := range []string{cluster, cluster, "other.example.com"} {
		rt, err := w.ec2.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: vpc.Vpc.VpcId,
			TagSpecifications: tags(awsmodel.TagCluster, owner, ec2types.ResourceTypeRouteTable)})
		if err != nil {
			t.Fatal(err)
		}
		if owner == cluster {
			w.tables = append(w.tables, aws.ToString(rt.RouteTable.RouteTableId))
		} else {
			w.other = aws.ToString(rt.RouteTable.RouteTableId)
		}
	}
	for i, name := range []string{"cp", "node-a", "node-b"} {
		out, err := w.ec2.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			SubnetId: aws.String(subnets[i%2]), TagSpecifications: tags(awsmodel.TagCluster, cluster, ec2types.ResourceTypeInstance)})
		if err != nil {
			t.Fatal(err)
		}
		w.insts[name] = aws.ToString(out.Instances[0].InstanceId)
	}
	srv.Reconcile()
	return w
}

func (w *world) ip(name string) string {
	for _, i := range w.srv.Instances() {
		if i.ID == w.insts[name] {
			return i.PrivateIP
		}
	}
	w.t.Fatalf("no instance %s", name)
	return ""
}

func node(name, podCIDR, ip string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDR},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}}}
}

// routes renders a table's instance routes as "cidr -> instance".
func (w *world) routes(table string) []string {
	out, err := w.ec2.DescribeRouteTables(context.Background(), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{table}})
	if err != nil {
		w.t.Fatal(err)
	}
	var got []string
	for _, r := range out.RouteTables[0].Routes {
		if r.InstanceId != nil {
			got = append(got, aws.ToString(r.DestinationCidrBlock)+" -> "+aws.ToString(r.InstanceId))
		}
	}
	sort.Strings(got)
	return got
}

func mutating(reqs []awstest.Request) []string {
	var out []string
	for _, r := range reqs {
		if !r.ReadOnly() {
			out = append(out, r.Action)
		}
	}
	return out
}

// TestSync: every node's pod CIDR routes to its instance in each of the
// cluster's route tables, and the instances carry pod addresses; a second
// sync changes nothing; a node that moves is re-routed, a stale route is
// deleted, and routes outside the pod range or in another cluster's
// table are never touched.
func TestSync(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	c := &Controller{EC2: w.ec2, Cluster: cluster, PodCIDR: netip.MustParsePrefix("100.96.0.0/11"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	nodes := []corev1.Node{
		node("cp", "100.96.0.0/24", w.ip("cp")),
		node("node-a", "100.96.1.0/24", w.ip("node-a")),
		node("not-yet", "100.96.3.0/24", "172.20.99.99"), // no instance has this address (yet)
		node("no-cidr", "", w.ip("node-b")),
	}
	if err := c.Sync(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	want := []string{"100.96.0.0/24 -> " + w.insts["cp"], "100.96.1.0/24 -> " + w.insts["node-a"]}
	for _, table := range w.tables {
		if d := cmp.Diff(want, w.routes(table)); d != "" {
			t.Errorf("routes of %s (-want +got):\n%s", table, d)
		}
	}
	if got := w.routes(w.other); len(got) != 0 {
		t.Errorf("another cluster's route table got routes: %v", got)
	}
	for _, i := range w.srv.Instances() {
		if wantCheck := i.ID == w.insts["node-b"]; i.SourceDestCheck != wantCheck {
			t.Errorf("instance %s: source/destination check %v, want %v", i.ID, i.SourceDestCheck, wantCheck)
		}
	}

	w.srv.ResetRequests()
	if err := c.Sync(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if m := mutating(w.srv.Requests()); len(m) > 0 {
		t.Errorf("second sync made mutating calls: %v", m)
	}

	// node-a is replaced by a machine at node-b's address; a route for a
	// node that is gone, and one outside the pod range, exist too.
	for _, r := range []struct{ cidr, inst string }{{"100.96.9.0/24", "node-b"}, {"10.9.0.0/16", "node-b"}} {
		if _, err := w.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(w.tables[0]), DestinationCidrBlock: aws.String(r.cidr),
			InstanceId: aws.String(w.insts[r.inst])}); err != nil {
			t.Fatal(err)
		}
	}
	nodes[1] = node("node-a", "100.96.1.0/24", w.ip("node-b"))
	if err := c.Sync(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	want = []string{"10.9.0.0/16 -> " + w.insts["node-b"], "100.96.0.0/24 -> " + w.insts["cp"], "100.96.1.0/24 -> " + w.insts["node-b"]}
	if d := cmp.Diff(want, w.routes(w.tables[0])); d != "" {
		t.Errorf("after the move (-want +got):\n%s", d)
	}
	if got := strings.Join(mutating(w.srv.Requests()), " "); !strings.Contains(got, "ReplaceRoute") || !strings.Contains(got, "DeleteRoute") {
		t.Errorf("calls %s", got)
	}
}
