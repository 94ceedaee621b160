package awscli

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/hullproject/hull/pkg/state/statetest"
	"github.com/hullproject/hull/tests/harness"
)

// startEmulator builds the standalone emulator (what `go run ./cmd/awsemu`
// runs), starts it on a free loopback port with the image and a hosted
// zone, and returns its URL from the line it prints.
func startEmulator(t *testing.T) string {
	t.Helper()
	bin, err := harness.Build(t.TempDir(), "github.com/hullproject/hull/cmd/awsemu", "awsemu", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--addr", "127.0.0.1:0", "--image", image, "--hosted-zone", "example.com", "--reconcile", "100ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the emulator exited before it listened")
			}
			if u, found := strings.CutPrefix(l, "awsemu listening on "); found {
				go func() {
					for range lines {
					}
				}()
				return u
			}
		case <-timeout:
			t.Fatal("the emulator did not say where it listens within 30s")
		}
	}
}

// TestStandaloneEmulator runs the emulator as its own process on
// 127.0.0.1:0 and points the real hull binary at it with AWS_ENDPOINT_URL
// alone: no region (the cluster's zones give it), no endpoint per
// service. A cluster with a DNS zone is created, applied twice (the second
// time changing nothing), exported and deleted, and the endpoint, asked
// with the SDK like any AWS client would, holds nothing of it afterwards.
func TestStandaloneEmulator(t *testing.T) {
	endpoint := startEmulator(t)
	e := harness.NewEnv(t, hullBin)
	e.State = statetest.StartS3(t)
	e.Extra = append(e.Extra, "AWS_ENDPOINT_URL="+endpoint, "AWS_REGION=", "AWS_DEFAULT_REGION=")
	const name = "standalone.example.com"
	e.Must("create", "cluster", name, "--cloud", "aws", "--zones", "eu-west-1a", "--dns-zone", "example.com")
	e.Must("update", "cluster", name, "--yes")
	if out := e.Must("update", "cluster", name, "--yes"); !strings.Contains(out, "No changes need to be applied") {
		t.Errorf("second update:\n%s", out)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	e.Must("export", "kubeconfig", name, "--admin", "--kubeconfig", kc)
	if b, err := os.ReadFile(kc); err != nil || !strings.Contains(string(b), "server: https://api.standalone.example.com:443") {
		t.Errorf("kubeconfig does not name the API record: %v\n%s", err, b)
	}

	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	groups, err := autoscaling.NewFromConfig(cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil || len(groups.AutoScalingGroups) != 2 {
		t.Errorf("autoscaling groups after update: %+v, %v", groups, err)
	}
	r53 := route53.NewFromConfig(cfg)
	zones, err := r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String("example.com")})
	if err != nil || len(zones.HostedZones) != 1 {
		t.Fatalf("hosted zones %+v, %v", zones, err)
	}
	recordNames := func() []string {
		out, err := r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: zones.HostedZones[0].Id})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range out.ResourceRecordSets {
			names = append(names, aws.ToString(r.Name))
		}
		return names
	}
	if got := recordNames(); len(got) != 1 || got[0] != "api.standalone.example.com." {
		t.Errorf("records %v, want the API alias", got)
	}

	e.Must("delete", "cluster", name, "--yes")
	if got := recordNames(); len(got) != 0 {
		t.Errorf("records after delete: %v", got)
	}
	ec := ec2.NewFromConfig(cfg)
	tagged := []ec2types.Filter{{Name: aws.String("tag:hull.dev/cluster"), Values: []string{name}}}
	if out, err := ec.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tagged}); err != nil || len(out.Vpcs) != 0 {
		t.Errorf("VPCs after delete: %+v, %v", out, err)
	}
	if out, err := ec.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: tagged}); err != nil || len(out.LaunchTemplates) != 0 {
		t.Errorf("launch templates after delete: %+v, %v", out, err)
	}
	if out, err := autoscaling.NewFromConfig(cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil ||
		len(out.AutoScalingGroups) != 0 {
		t.Errorf("autoscaling groups after delete: %+v, %v", out, err)
	}
	if _, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("nodes." + name)}); err == nil {
		t.Error("the nodes role outlived the cluster")
	}
}
