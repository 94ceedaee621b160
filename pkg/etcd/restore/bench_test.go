package restore_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hullproject/hull/pkg/etcd/backup"
	"github.com/hullproject/hull/pkg/etcd/etcdtest"
	"github.com/hullproject/hull/pkg/etcd/restore"
	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// BenchmarkRestore times what a restore does on the coordinator for a
// database of $HULL_BENCH_DB_MB megabytes (default 64) of incompressible
// values in a file:// store: download and verify the backup, build the
// data dir, start etcd on it and wait until it serves.
//
//	HULL_BENCH_DB_MB=500 go test ./pkg/etcd/restore -run '^$' -bench Restore -benchtime 1x
func BenchmarkRestore(b *testing.B) {
	mb := 64
	if v := os.Getenv("HULL_BENCH_DB_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("HULL_BENCH_DB_MB=%q: want a positive number of megabytes", v)
		}
		mb = n
	}
	ctx := context.Background()
	src := etcdtest.StartCluster(b, 1)
	cl := etcdtest.Client(b, src.Endpoints()...)
	etcdtest.Fill(b, cl, "/bench/", mb)
	store, err := state.Open(ctx, statetest.FileURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if _, err := backup.Save(ctx, cl, store, "bench", "main", t0, 1); err != nil {
		b.Fatal(err)
	}
	list, err := backup.List(ctx, store, "bench", "main")
	if err != nil || len(list) != 1 {
		b.Fatalf("List = %v, %v", list, err)
	}
	src.Members[0].Stop()

	var verify, build, start time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		begin := time.Now()
		snap, err := restore.Verify(ctx, store, "bench", "main", list[0], b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		m := etcdtest.NewMember(b, "restored-"+strconv.Itoa(i))
		initial := m.Name + "=" + m.PeerURL
		if err := restore.ToDataDir(snap.Path, m.DataDir, m.Name, m.PeerURL, initial, "bench-"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := m.Start(etcdtest.StartOptions{InitialCluster: initial, Token: "bench-" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		verify, build, start = verify+t1.Sub(begin), build+t2.Sub(t1), start+t3.Sub(t2)
		m.Stop()
		snap.Remove()
	}
	n := float64(b.N)
	b.ReportMetric(float64(mb), "db-MB")
	b.ReportMetric(verify.Seconds()/n, "verify-s")
	b.ReportMetric(build.Seconds()/n, "datadir-s")
	b.ReportMetric(start.Seconds()/n, "start-s")
}
