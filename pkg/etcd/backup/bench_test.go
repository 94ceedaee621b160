package backup_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// BenchmarkBackup backs up a database of $HULL_BENCH_DB_MB megabytes
// (default 64) of incompressible values into a file:// store and reports
// the snapshot throughput and how much the live heap grew while it ran.
//
//	HULL_BENCH_DB_MB=500 go test ./pkg/etcd/backup -run '^$' -bench Backup -benchtime 3x
func BenchmarkBackup(b *testing.B) {
	mb := benchDBMB(b)
	// etcd runs in a child process so that the heap measured here is the
	// backup's alone, not the embedded server's (whose raft log holds
	// every value just written).
	cl := etcdtest.Client(b, startChildEtcd(b))
	etcdtest.Fill(b, cl, "/bench/", mb)
	store := openStoreB(b, statetest.FileURL(b))
	ctx := context.Background()

	var before, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Reset the kernel's peak-RSS mark so it covers the backups alone.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	stop := make(chan struct{})
	sampled := make(chan uint64)
	go func() { // sample the live heap while backups run
		var maxHeap uint64
		var m runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				sampled <- maxHeap
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				maxHeap = max(maxHeap, m.HeapAlloc)
			}
		}
	}()
	var snapBytes, gzBytes int64
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		meta, err := backup.Save(ctx, cl, store, "bench", "main", at, i)
		if err != nil {
			b.Fatal(err)
		}
		snapBytes += meta.SnapshotSize
		gzBytes += meta.CompressedSize
	}
	elapsed := b.Elapsed()
	close(stop)
	maxHeap := <-sampled
	runtime.ReadMemStats(&peak)
	b.ReportMetric(float64(snapBytes)/(1<<20)/elapsed.Seconds(), "MB/s")
	b.ReportMetric(float64(int64(maxHeap)-int64(before.HeapAlloc))/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(mb), "db-MB")
	if hwm, err := peakRSS(); err == nil {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
	}
	b.ReportMetric(float64(gzBytes)/float64(max(snapBytes, 1)), "gz-ratio")
}

// BenchmarkEtcdutlSaveGzip is the baseline for BenchmarkBackup: what an
// operator does by hand, etcdutl's snapshot save to a file, then gzip
// (default level, like the gzip command) of that file.
func BenchmarkEtcdutlSaveGzip(b *testing.B) {
	mb := benchDBMB(b)
	ep := startChildEtcd(b)
	etcdtest.Fill(b, etcdtest.Client(b, ep), "/bench/", mb)
	dir := b.TempDir()
	mgr := snapshot.NewV3(zap.NewNop())
	var n int64
	for b.Loop() {
		db := filepath.Join(dir, "snap.db")
		os.Remove(db)
		if _, err := mgr.Save(context.Background(), clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()}, db); err != nil {
			b.Fatal(err)
		}
		in, err := os.Open(db)
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(db + ".gz")
		if err != nil {
			b.Fatal(err)
		}
		gz := gzip.NewWriter(out)
		c, err := io.Copy(gz, in)
		if err != nil {
			b.Fatal(err)
		}
		gz.Close()
		out.Close()
		in.Close()
		n += c
	}
	b.ReportMetric(float64(n)/(1<<20)/b.Elapsed().Seconds(), "MB/s")
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func peakRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

func benchDBMB(b *testing.B) int {
	mb := 64
	if v := os.Getenv("HULL_BENCH_DB_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("HULL_BENCH_DB_MB=%q: want a positive number of megabytes", v)
		}
		mb = n
	}
	return mb
}

// envChildEtcd makes the test binary run an etcd member instead of tests:
// its value is "<data dir> <client URL> <peer URL>".
const envChildEtcd = "HULL_TEST_CHILD_ETCD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envChildEtcd); spec != "" {
		if err := runChildEtcd(strings.Fields(spec)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// runChildEtcd serves etcd until the parent kills the process.
func runChildEtcd(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("%s: want <dir> <client URL> <peer URL>", envChildEtcd)
	}
	cu, err := url.Parse(args[1])
	if err != nil {
		return err
	}
	pu, err := url.Parse(args[2])
	if err != nil {
		return err
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "bench", args[0]
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = "bench=" + pu.String()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(args[0], "..", "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	<-e.Server.ReadyNotify()
	fmt.Println("ready")
	select {}
}

// startChildEtcd runs an etcd member in a child process (this test binary)
// and returns its client URL; the child is killed when the benchmark ends.
func startChildEtcd(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}
	client, peer := addr(), addr()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildEtcd+"="+filepath.Join(dir, "data")+" "+client+" "+peer)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			b.Fatal("child etcd did not start")
		}
	case <-time.After(60 * time.Second):
		b.Fatal("child etcd not ready within 60s")
	}
	return client
}
