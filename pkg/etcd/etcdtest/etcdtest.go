package etcdtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/hullproject/hull/internal/testproc"
)

// readyTimeout bounds how long a member may take to serve.
const readyTimeout = 60 * time.Second

// Member is one etcd member with fixed ports and a directory of its own.
// Start and Stop may be called repeatedly (a restore stops and restarts it).
type Member struct {
	Name      string
	Dir       string // holds the data dir and the log
	DataDir   string
	ClientURL string
	PeerURL   string

	mu sync.Mutex
	e  *embed.Etcd
}

// NewMember allocates ports and a directory for a member without starting it.
func NewMember(t testing.TB, name string) *Member {
	t.Helper()
	dir := t.TempDir()
	m := &Member{
		Name:      name,
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		ClientURL: "http://" + freeAddr(t),
		PeerURL:   "http://" + freeAddr(t),
	}
	t.Cleanup(m.Stop)
	return m
}

// StartOptions say how a member joins: the initial cluster, "new" or
// "existing", the cluster token, and the data dir (the member's own if empty).
type StartOptions struct {
	InitialCluster string
	ClusterState   string
	Token          string
	DataDir        string
}

// Start starts the member and returns once it serves, or fails. It does
// not wait for a quorum when the member has peers that are not running yet:
// use WaitReady for that.
func (m *Member) Start(opts StartOptions) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != nil {
		return fmt.Errorf("etcd member %s is already running", m.Name)
	}
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.DataDir
	if opts.DataDir != "" {
		cfg.Dir = opts.DataDir
	}
	cu, pu := mustURL(m.ClientURL), mustURL(m.PeerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = opts.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = m.Name + "=" + m.PeerURL
	}
	cfg.ClusterState = embed.ClusterStateFlagNew
	if opts.ClusterState != "" {
		cfg.ClusterState = opts.ClusterState
	}
	if opts.Token != "" {
		cfg.InitialClusterToken = opts.Token
	}
	cfg.TickMs, cfg.ElectionMs = 50, 500
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(m.Dir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", m.Name, err)
	}
	m.e = e
	return nil
}

// WaitReady waits until the member has joined a cluster with a quorum.
func (m *Member) WaitReady(ctx context.Context) error {
	m.mu.Lock()
	e := m.e
	m.mu.Unlock()
	if e == nil {
		return fmt.Errorf("etcd member %s is not running", m.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("etcd member %s: %w", m.Name, err)
	case <-ctx.Done():
		return fmt.Errorf("etcd member %s not ready: %w", m.Name, ctx.Err())
	}
}

// Stop stops the member if it runs.
func (m *Member) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// Running reports whether the member was started and not stopped.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e != nil
}

// ClusterID is the member's current cluster id (0 when stopped).
func (m *Member) ClusterID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.e == nil {
		return 0
	}
	return uint64(m.e.Server.Cluster().ID())
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
	Token   string
}

// StartCluster starts an n-member cluster and waits until every member is
// ready. Everything stops when the test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{Token: "hull-test-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))}
	for i := range n {
		c.Members = append(c.Members, NewMember(t, fmt.Sprintf("m%d", i)))
	}
	for _, m := range c.Members {
		if err := m.Start(StartOptions{InitialCluster: c.InitialCluster(), Token: c.Token}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members {
		if err := m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// InitialCluster is the --initial-cluster value naming every member.
func (c *Cluster) InitialCluster() string {
	var parts []string
	for _, m := range c.Members {
		parts = append(parts, m.Name+"="+m.PeerURL)
	}
	return strings.Join(parts, ",")
}

// Endpoints are the client URLs of every member.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client connects to endpoints; it is closed when the test ends.
func Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

var (
	addrMu sync.Mutex
	given  = map[string]bool{}
)

// freeAddr returns a free 127.0.0.1 port that no other member of this
// process was given, so a stopped member's ports stay its own.
func freeAddr(t testing.TB) string {
	t.Helper()
	addrMu.Lock()
	defer addrMu.Unlock()
	for {
		addr := testproc.FreeAddr(t)
		if !given[addr] {
			given[addr] = true
			return addr
		}
	}
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

// Fill writes about mb megabytes of incompressible values under prefix, in
// values of 256 KiB, and returns how many keys it wrote.
func Fill(t testing.TB, cl *clientv3.Client, prefix string, mb int) int {
	t.Helper()
	const valueSize = 256 << 10
	n := mb << 20 / valueSize
	buf := make([]byte, valueSize)
	for i := range n {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Put(context.Background(), fmt.Sprintf("%s%06d", prefix, i), string(buf)); err != nil {
			t.Fatalf("fill etcd: %v", err)
		}
	}
	return n
}

// Dump returns every key and value, for comparing two clusters.
func Dump(t testing.TB, cl *clientv3.Client) map[string]string {
	t.Helper()
	resp, err := cl.Get(context.Background(), "", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("read etcd: %v", err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}
