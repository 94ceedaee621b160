package bootstrap

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hullproject/hull/nodeup/etcdmanager"
	"github.com/hullproject/hull/nodeup/kubeapi"
	"github.com/hullproject/hull/nodeup/model"
	"github.com/hullproject/hull/nodeup/nodelifecycle"
	"github.com/hullproject/hull/nodeup/services"
	"github.com/hullproject/hull/nodeup/supervisor"
	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/apis/nodeup"
	"github.com/hullproject/hull/pkg/pki"
	"github.com/hullproject/hull/pkg/registry"
	"github.com/hullproject/hull/pkg/state"
)

// Options are nodeup's flags.
type Options struct {
	UserData string
	DryRun   bool
	Root     string
	// Phases limits the run (tests: "files"); empty runs all.
	Phases []string
	// AssetsDir overrides the baked repository location.
	AssetsDir string
	// Fact overrides, for plans made off the machine and for tests.
	Hostname   string
	InstanceID string
	Address    string
	CgroupRoot string
	Cloud      string
	// CloudAPI is the local cloud's machine API ($HULL_CLOUD_API, set by
	// cloudup/local when it boots the machine), which the node lifecycle
	// controller asks which machines still exist.
	CloudAPI string
	// Stay keeps nodeup running after the tasks (route controller,
	// supervisor) until SIGTERM; the default on a machine.
	Stay bool
	Out  io.Writer
	Log  *slog.Logger
	Now  func() time.Time
}

// Main is the nodeup command; it returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	o := Options{Out: stdout}
	fs := flag.NewFlagSet("nodeup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.UserData, "user-data", os.Getenv("HULL_USER_DATA"), "the machine's user-data file ($HULL_USER_DATA)")
	fs.BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	fs.StringVar(&o.Root, "root", "/", "write files under this directory")
	phases := fs.String("phases", "", "comma-separated phases to run: "+strings.Join(tasks.AllPhases, ","))
	fs.StringVar(&o.AssetsDir, "assets", BakedAssets, "the asset repository baked into the image")
	fs.StringVar(&o.Hostname, "hostname", "", "node name (default: the hostname)")
	fs.StringVar(&o.InstanceID, "instance-id", os.Getenv("HULL_INSTANCE_ID"), "instance id ($HULL_INSTANCE_ID, default: the hostname)")
	fs.StringVar(&o.Address, "address", "", "machine address (default: eth0's)")
	fs.StringVar(&o.CgroupRoot, "cgroup-root", "", "kubelet cgroupRoot (default on the local cloud: this process's cgroup)")
	fs.StringVar(&o.Cloud, "cloud", os.Getenv("HULL_CLOUD"), "cloud ($HULL_CLOUD); local uses the built-in supervisor")
	fs.StringVar(&o.CloudAPI, "cloud-api", os.Getenv("HULL_CLOUD_API"), "the local cloud's machine API ($HULL_CLOUD_API)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *phases != "" {
		o.Phases = strings.Split(*phases, ",")
	}
	o.Stay = !o.DryRun && len(o.Phases) == 0
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := Run(ctx, o); err != nil {
		fmt.Fprintf(stderr, "nodeup: %v\n", err)
		return 1
	}
	return 0
}

// Run is nodeup: verify, plan or apply, then (Stay) supervise until ctx ends.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, p := range o.Phases {
		if !slices.Contains(tasks.AllPhases, p) {
			return fmt.Errorf("unknown phase %q: want some of %s", p, strings.Join(tasks.AllPhases, ","))
		}
	}
	if o.UserData == "" {
		return errors.New("no user-data: pass --user-data or set HULL_USER_DATA")
	}
	raw, err := os.ReadFile(o.UserData)
	if err != nil {
		return fmt.Errorf("read user-data: %w", err)
	}
	ud, err := nodeup.ParseUserData(raw)
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, ud.StateStore)
	if err != nil {
		return fmt.Errorf("open state store: %w", err)
	}
	defer store.Close()
	data, _, err := store.Get(ctx, ud.ConfigKey)
	if err != nil {
		return fmt.Errorf("read nodeup config %s: %w", ud.ConfigKey, err)
	}
	cfg, err := nodeup.VerifyConfig(ud, data)
	if err != nil {
		return err
	}
	log.Info("nodeup config verified", "key", ud.ConfigKey, "sha256", ud.ConfigHash, "role", cfg.Role, "group", cfg.InstanceGroup)

	root := o.Root
	if root == "" {
		root = "/"
	}
	assetsDir, manifest, err := LocateAssets(ctx, o.AssetsDir, cfg.AssetsRepository, filepath.Join(root, FetchedAssets))
	if err != nil {
		return err
	}
	log.Info("assets verified", "dir", assetsDir, "files", len(manifest.Files), "images", len(manifest.Images))

	facts, err := learnFacts(o)
	if err != nil {
		return err
	}
	keysets, err := loadKeysets(ctx, store, cfg)
	if err != nil {
		return err
	}
	in := &model.Input{
		Config: cfg, Facts: facts, Keysets: keysets, Root: root, Now: o.Now, Store: store, Log: log,
		Assets: &model.Assets{Dir: assetsDir, Manifest: manifest},
	}
	var sup *supervisor.Supervisor
	var mgr services.Manager
	if in.Cloud().Supervised {
		// nodeup is the machine's boot process (the local cloud), and so
		// its service manager: systemd units would land on the host.
		sup = supervisor.New(log)
		mgr = &services.Supervised{Sup: sup, LogDir: filepath.Join(root, LocalLogDir)}
	} else {
		mgr = &services.Systemd{Root: root, UnitDir: "/etc/systemd/system"}
	}
	if o.DryRun {
		// A plan must not start anything: an idle supervisor reports
		// every service as to be started.
		mgr = &services.Supervised{LogDir: filepath.Join(root, LocalLogDir)}
		if !in.Cloud().Supervised {
			mgr = &services.Systemd{Root: root, UnitDir: "/etc/systemd/system"}
		}
	}
	list, err := model.Build(in, mgr)
	if err != nil {
		return fmt.Errorf("build task list: %w", err)
	}
	runner := &tasks.Runner{DryRun: o.DryRun, Phases: o.Phases, Plan: o.Out, Log: log}
	results, err := runner.Run(ctx, list)
	if err != nil {
		if sup != nil {
			_ = sup.Stop(context.Background())
		}
		return err
	}
	changed := 0
	for _, r := range results {
		if r.Change.Changed() {
			changed++
		}
	}
	if !o.DryRun {
		log.Info("nodeup tasks done", "tasks", len(results), "changed", changed)
		if o.Out != nil {
			fmt.Fprintf(o.Out, "nodeup: %d tasks, %d changed\n", len(results), changed)
		}
	}
	if !o.Stay {
		return nil
	}
	return stay(ctx, in, sup, o.CloudAPI, log)
}

// LocalLogDir holds the services' logs where nodeup supervises them (the
// local cloud). /var/log/hull is not one of the machine's private
// directories there (see cloudup/local), so the logs go under
// /var/lib/hull, which is.
const LocalLogDir = "/var/lib/hull/log"

// stay runs the pod-route controller and keeps the services up until ctx
// ends, then stops them (kubelet first).
func stay(ctx context.Context, in *model.Input, sup *supervisor.Supervisor, cloudAPI string, log *slog.Logger) error {
	cloud := in.Cloud()
	go func() {
		// Where the cloud keeps pod routes itself (the VPC route tables on
		// AWS), the control plane runs its controller; elsewhere every
		// machine routes to the others.
		if cloud.PodRoutesControlPlaneOnly && !in.IsControlPlane() {
			return
		}
		l := &kubeapi.Lazy{Kubeconfig: filepath.Join(in.Root, model.KubeletKubeconfig), Wait: model.NodeTimeout}
		c, err := l.Get(ctx)
		if err != nil {
			log.Error("pod route controller cannot start", "err", err)
			return
		}
		if cloud.PodRoutes != nil {
			cloud.PodRoutes(ctx, in, c.Kube, log)
			return
		}
		(&kubeapi.Routes{Kube: c.Kube, Self: in.Facts.Hostname, Router: kubeapi.IPRoute{}, Every: 3 * time.Second, Log: log}).Run(ctx)
	}()
	if cloudAPI != "" && in.IsControlPlane() {
		go runNodeLifecycle(ctx, in, nodelifecycle.MachineAPI{URL: cloudAPI}, log)
	}
	var managers sync.WaitGroup
	if in.IsControlPlane() {
		opts := etcdmanager.Options{PollInterval: cloud.EtcdPollInterval, StepTimeout: cloud.EtcdStepTimeout}
		managers.Go(func() { etcdmanager.Run(ctx, in, opts) })
	}
	log.Info("nodeup is up; supervising until SIGTERM")
	<-ctx.Done()
	log.Info("nodeup stopping")
	managers.Wait()
	if sup != nil {
		return sup.Stop(context.Background())
	}
	return nil
}

func learnFacts(o Options) (model.Facts, error) {
	f := model.Facts{Hostname: o.Hostname, InstanceID: o.InstanceID, CgroupRoot: o.CgroupRoot, Cloud: o.Cloud}
	if f.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return f, fmt.Errorf("hostname: %w", err)
		}
		f.Hostname = h
	}
	if f.InstanceID == "" {
		f.InstanceID = f.Hostname
	}
	if o.Address != "" {
		a, err := netip.ParseAddr(o.Address)
		if err != nil {
			return f, fmt.Errorf("--address: %w", err)
		}
		f.Address = a
	} else {
		a, err := Address()
		if err != nil {
			return f, err
		}
		f.Address = a
	}
	if f.CgroupRoot == "" && model.CloudNamed(f.Cloud).Supervised {
		cg, err := SelfCgroup()
		if err != nil {
			return f, fmt.Errorf("machine cgroup: %w", err)
		}
		f.CgroupRoot = cg
	}
	return f, nil
}

// loadKeysets reads the CAs: with private keys on the control plane (it
// issues every leaf), the Kubernetes CA's certificate only on workers.
func loadKeysets(ctx context.Context, store *state.Store, cfg *nodeup.Config) (map[string]*pki.Keyset, error) {
	out := map[string]*pki.Keyset{}
	read := func(key string) (*pki.Keyset, error) {
		data, _, err := store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read keyset %s: %w", key, err)
		}
		return pki.ParseKeyset(data)
	}
	if cfg.Role != model.RoleControlPlane {
		ks, err := read(registry.IssuedKeysetKey(cfg.ClusterName, pki.KubernetesCA))
		if err != nil {
			return nil, err
		}
		out[ks.Name] = ks
		return out, nil
	}
	var etcd []string
	for _, e := range cfg.EtcdClusters {
		etcd = append(etcd, e.Name)
	}
	for _, name := range pki.ClusterKeysetNames(etcd) {
		ks, err := read(registry.PrivateKeysetKey(cfg.ClusterName, name))
		if err != nil {
			return nil, err
		}
		out[name] = ks
	}
	return out, nil
}

// runNodeLifecycle removes the Nodes of machines the cloud no longer has,
// from every control-plane machine (deleting a Node twice is harmless).
func runNodeLifecycle(ctx context.Context, in *model.Input, cloud nodelifecycle.Instances, log *slog.Logger) {
	l := &kubeapi.Lazy{Kubeconfig: filepath.Join(in.Root, model.AdminKubeconfig), Wait: model.NodeTimeout}
	c, err := l.Get(ctx)
	if err != nil {
		log.Error("node lifecycle controller cannot start", "err", err)
		return
	}
	(&nodelifecycle.Controller{Kube: c.Kube, Instances: cloud, Self: in.Facts.Hostname, Log: log}).Run(ctx)
}
