package aws_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/hullproject/hull/cloudup"
	hullaws "github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// env is one cluster spec in a mem:// state store and an AWS endpoint on
// loopback with the cluster's image registered.
type env struct {
	t       *testing.T
	srv     *awstest.Server
	cfg     aws.Config
	reg     *registry.Registry
	name    string
	cluster *v1alpha1.Cluster
	igs     []*v1alpha1.InstanceGroup
	opts    hullaws.Options
	images  map[string]bool
}

const k8sVersion = "1.37.2"

func newEmulator(t *testing.T, o awstest.Options) (*awstest.Server, aws.Config) {
	t.Helper()
	srv := awstest.NewWithOptions(o)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(awstest.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		config.WithBaseEndpoint(ts.URL),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	if err != nil {
		t.Fatal(err)
	}
	return srv, cfg
}

// newEnv writes the spec `hull create cluster` would write for o and
// completes it.
func newEnv(t *testing.T, o newcluster.Options, eo awstest.Options) *env {
	t.Helper()
	ctx := context.Background()
	if o.Cloud == "" {
		o.Cloud = v1alpha1.CloudAWS
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = k8sVersion
	}
	c, igs, err := newcluster.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	// The store URL is in the user-data, so it is fixed; the cluster is
	// removed again so the next test (or -count) starts from nothing.
	store, err := state.Open(ctx, "mem://hull-state")
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(store)
	if err := reg.CreateCluster(ctx, c, igs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.DeleteCluster(ctx, o.Name); err != nil {
			t.Errorf("remove cluster from the state store: %v", err)
		}
		store.Close()
	})
	e := &env{t: t, reg: reg, name: o.Name, images: map[string]bool{}}
	e.srv, e.cfg = newEmulator(t, eo)
	e.complete()
	// The identity create recorded, as hull presents it.
	id, err := reg.ClusterID(ctx, o.Name)
	if err != nil || id == "" {
		t.Fatalf("cluster identity %q: %v", id, err)
	}
	e.opts = hullaws.Options{Config: &e.cfg, RetryMaxBackoff: 20 * time.Millisecond, DeleteBackoff: 5 * time.Millisecond,
		DeleteTimeout: 30 * time.Second, Owner: cloud.Owner{Cluster: o.Name, ID: id, Store: store.URL()}}
	return e
}

// complete reads the spec back completed, as update does, and registers
// any new image.
func (e *env) complete() {
	e.t.Helper()
	var err error
	e.cluster, e.igs, err = cloudup.Complete(context.Background(), e.reg, e.name)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ig := range e.igs {
		if !e.images[ig.Spec.Image] {
			e.images[ig.Spec.Image] = true
			e.srv.AddImage(ig.Spec.Image)
		}
	}
}

func (e *env) provider() *hullaws.Provider {
	e.t.Helper()
	p, err := hullaws.New(context.Background(), e.cluster, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// update runs `hull update cluster` (--yes when yes) with a fresh provider.
func (e *env) update(yes bool) string {
	e.t.Helper()
	var out bytes.Buffer
	if _, err := cloudup.Update(context.Background(), e.reg, e.provider(), e.name, cloudup.UpdateOptions{Yes: yes, Out: &out}); err != nil {
		e.t.Fatalf("update cluster (yes=%v): %v\n%s", yes, err, out.String())
	}
	return out.String()
}

// updateIsClean runs `update --yes` again and checks it finds nothing to
// change and makes no mutating call.
func (e *env) updateIsClean(what string) {
	e.t.Helper()
	e.srv.ResetRequests()
	if out := e.update(true); !strings.Contains(out, "No changes") {
		e.t.Errorf("%s is not clean:\n%s", what, out)
	}
	if m := mutating(e.srv.Requests()); len(m) > 0 {
		e.t.Errorf("%s made mutating calls: %v", what, m)
	}
}

// delete runs what `hull delete cluster --yes` runs in the cloud.
func (e *env) delete() string {
	e.t.Helper()
	ctx := context.Background()
	p := e.provider()
	var out bytes.Buffer
	res, err := cloudup.FindCloudResources(ctx, p, e.name)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cloudup.DeleteCloudResources(ctx, p, e.name, res, &out); err != nil {
		e.t.Fatalf("delete: %v\n%s", err, out.String())
	}
	return out.String()
}

// calls counts the calls hull made (SDK retries left out, see
// awstest.Request.Retry): reads (Describe/List/Get) and the rest, by
// "service:Action".
func calls(reqs []awstest.Request) (reads, writes int, byAction map[string]int) {
	byAction = map[string]int{}
	for _, r := range reqs {
		if r.Retry() {
			continue
		}
		byAction[r.Service+":"+r.Action]++
		if r.ReadOnly() {
			reads++
		} else {
			writes++
		}
	}
	return reads, writes, byAction
}

func mutating(reqs []awstest.Request) []string {
	var out []string
	for _, r := range reqs {
		if !r.ReadOnly() {
			out = append(out, fmt.Sprintf("%s:%s", r.Service, r.Action))
		}
	}
	sort.Strings(out)
	return out
}

func itoa(n int32) string { return fmt.Sprint(n) }

func sortStrings(s []string) { sort.Strings(s) }

// model is the model update builds: with the API load balancer's DNS name
// when the cluster has no DNS zone.
func (e *env) model() *cloudup.Model {
	e.t.Helper()
	p := e.provider()
	var o cloudup.ModelOptions
	if cloudup.UsesLoadBalancerName(e.cluster) {
		host, err := p.LoadBalancerHost(context.Background(), e.name, cloudup.APILoadBalancerName)
		if err != nil || host == "" {
			e.t.Fatalf("API load balancer host %q: %v", host, err)
		}
		o.APIHost = host
	}
	m, err := cloudup.BuildModelWith(e.cluster, e.igs, p, e.reg.Store(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// editCluster changes the user's spec as `hull edit cluster` would and
// completes it again.
func (e *env) editCluster(edit func(s *v1alpha1.ClusterSpec)) {
	e.t.Helper()
	ctx := context.Background()
	c, _, err := e.reg.GetCluster(ctx, e.name)
	if err != nil {
		e.t.Fatal(err)
	}
	edit(&c.Spec)
	if _, err := e.reg.PutCluster(ctx, c, state.Unconditional()); err != nil {
		e.t.Fatal(err)
	}
	e.complete()
}

func (e *env) setDNSZone(zone string) {
	e.editCluster(func(s *v1alpha1.ClusterSpec) { s.DNSZone = zone })
}
