package main

// Usage:
//
//	go run ./cmd/awsemu --addr 127.0.0.1:4566 --image hull-kubernetes-1.37.2-amd64
//	AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x hull ...
//
// --addr 127.0.0.1:0 takes a free port; the first line of output names it.

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/hullproject/hull/cloudup/aws/awstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4566", "loopback address to listen on")
	images := flag.String("image", "", "comma-separated AMI names to register at start")
	zones := flag.String("hosted-zone", "", "comma-separated Route 53 zones to create at start")
	tick := flag.Duration("reconcile", time.Second, "how often instances, NAT gateways and load balancers move on")
	pageLimit := flag.Int("page-limit", 0, "cap every page of results (0: AWS limits)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("--addr %s: %v", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("--addr %s: awsemu listens on loopback addresses only", *addr)
	}
	srv := awstest.NewWithOptions(awstest.Options{PageLimit: *pageLimit})
	for _, name := range split(*images) {
		fmt.Printf("image %s %s\n", srv.AddImage(name), name)
	}
	for _, name := range split(*zones) {
		fmt.Printf("hosted-zone %s %s\n", srv.AddHostedZone(name), name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		t := time.NewTicker(*tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				srv.Reconcile()
			}
		}
	}()
	// Listen first, so --addr 127.0.0.1:0 reports the port it got.
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("--addr %s: %v", *addr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Shutdown(context.Background())
	}()
	fmt.Printf("awsemu listening on http://%s\n", l.Addr())
	if err := hs.Serve(l); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
