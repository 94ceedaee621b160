package graph

import (
	"context"
	"sync"
)

// fakeCloud is an in-memory cloud: resource key -> state. It logs every
// Apply start/finish and Delete, in order.
type fakeCloud struct {
	mu      sync.Mutex
	state   map[string]Fields
	log     []string // "start K", "end K", "delete K"
	applies map[string]int
	finds   int
}

func newFakeCloud() *fakeCloud {
	return &fakeCloud{state: map[string]Fields{}, applies: map[string]int{}}
}

func (c *fakeCloud) record(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *fakeCloud) logCopy() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *fakeCloud) applyCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.applies {
		n += v
	}
	return n
}

// fakeTask stores its expected fields in the fake cloud on Apply. The
// hooks, when set, run first; an error from one fails the call.
type fakeTask struct {
	key       string
	deps      []string
	expected  Fields
	immutable []string
	cloud     *fakeCloud
	onApply   func(ctx context.Context) error
	onFind    func(ctx context.Context) error
}

func (t *fakeTask) Key() string            { return t.key }
func (t *fakeTask) Dependencies() []string { return t.deps }
func (t *fakeTask) Expected() Fields       { return t.expected }
func (t *fakeTask) Immutable() []string    { return t.immutable }

func (t *fakeTask) Find(ctx context.Context) (Fields, error) {
	if t.onFind != nil {
		if err := t.onFind(ctx); err != nil {
			return nil, err
		}
	}
	t.cloud.mu.Lock()
	defer t.cloud.mu.Unlock()
	t.cloud.finds++
	return copyFields(t.cloud.state[t.key]), nil
}

func (t *fakeTask) Apply(ctx context.Context, ch *Change) error {
	t.cloud.record("start " + t.key)
	if t.onApply != nil {
		if err := t.onApply(ctx); err != nil {
			return err
		}
	}
	t.cloud.mu.Lock()
	t.cloud.state[t.key] = copyFields(ch.Expected)
	t.cloud.applies[t.key]++
	t.cloud.mu.Unlock()
	t.cloud.record("end " + t.key)
	return nil
}

// fakeDeletion removes its key from the fake cloud.
type fakeDeletion struct {
	key   string
	deps  []string
	cloud *fakeCloud
}

func (d *fakeDeletion) Key() string            { return d.key }
func (d *fakeDeletion) Dependencies() []string { return d.deps }

func (d *fakeDeletion) Delete(context.Context) error {
	d.cloud.mu.Lock()
	delete(d.cloud.state, d.key)
	d.cloud.mu.Unlock()
	d.cloud.record("delete " + d.key)
	return nil
}

// clusterTasks is a small cluster's graph: 9 tasks, 4 levels deep.
func clusterTasks(c *fakeCloud) []Task {
	t := func(key string, expected Fields, deps ...string) *fakeTask {
		return &fakeTask{key: key, deps: deps, expected: expected, cloud: c}
	}
	return []Task{
		t("Network/k8s", Fields{"cidr": "172.20.0.0/16"}),
		t("Subnet/zone-a", Fields{"cidr": "172.20.32.0/19", "zone": "a"}, "Network/k8s"),
		t("Subnet/zone-b", Fields{"cidr": "172.20.64.0/19", "zone": "b"}, "Network/k8s"),
		t("Image/base", Fields{"path": "/var/lib/hull/images/base"}),
		t("LaunchConfig/control-plane-a", Fields{"configVersion": "1a2b3c4d", "image": "base"}, "Image/base"),
		t("LaunchConfig/nodes-a", Fields{"configVersion": "5e6f7a8b", "image": "base"}, "Image/base"),
		t("InstanceGroup/control-plane-a", Fields{"maxSize": "1", "minSize": "1"}, "LaunchConfig/control-plane-a", "Subnet/zone-a"),
		t("InstanceGroup/nodes-a", Fields{"maxSize": "2", "minSize": "2"}, "LaunchConfig/nodes-a", "Subnet/zone-a", "Subnet/zone-b"),
		t("LoadBalancer/api", Fields{"port": "443"}, "InstanceGroup/control-plane-a"),
	}
}

// barrier releases its waiters n at a time.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived int
	gen     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, gen: make(chan struct{})} }

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	ch := b.gen
	b.arrived++
	if b.arrived == b.n {
		b.arrived = 0
		close(ch)
		b.gen = make(chan struct{})
	}
	b.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
