package aws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	hullaws "github.com/hullproject/hull/cloudup/aws"
	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/apis/newcluster"
)

// chainEnv points the standard chain at the emulator with credentials and
// nothing else: no region, no profile, no instance metadata.
func chainEnv(t *testing.T, endpoint string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "",
	} {
		t.Setenv(k, v)
	}
}

// TestRegionFromZones: with no region in the environment or profile, the
// provider signs its calls for the region of the cluster's zones; a region
// the environment names that contradicts them is refused, naming the zone
// field.
func TestRegionFromZones(t *testing.T) {
	e := newEnv(t, newcluster.Options{Name: "region.example.com", Zones: []string{"eu-west-1a", "eu-west-1b"}}, awstest.Options{})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	chainEnv(t, ts.URL)
	p, err := hullaws.New(context.Background(), e.cluster, hullaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FindInstanceGroups(context.Background(), e.name); err != nil {
		t.Fatal(err)
	}
	reqs := e.srv.Requests()
	if len(reqs) == 0 || reqs[0].Region != "eu-west-1" {
		t.Errorf("calls signed for %+v, want eu-west-1", reqs)
	}

	t.Setenv("AWS_REGION", "us-west-2")
	_, err = hullaws.New(context.Background(), e.cluster, hullaws.Options{})
	if err == nil || !strings.Contains(err.Error(), "spec.networking.subnets[0].zone: zone eu-west-1a is in region eu-west-1") ||
		!strings.Contains(err.Error(), "selects us-west-2") {
		t.Errorf("contradicting region: %v", err)
	}
	t.Setenv("AWS_REGION", "eu-west-1")
	if _, err := hullaws.New(context.Background(), e.cluster, hullaws.Options{}); err != nil {
		t.Errorf("agreeing region: %v", err)
	}
}

// TestRegionFromIMDS: with neither the environment nor a cluster naming a
// region (hull image build on a bastion), it comes from the instance
// metadata service, IMDSv2; with IMDS off the error says what to set.
func TestRegionFromIMDS(t *testing.T) {
	chainEnv(t, "")
	var tokens int
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			tokens++
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = w.Write([]byte("token"))
		case r.URL.Path == "/latest/dynamic/instance-identity/document" && r.Header.Get("X-Aws-Ec2-Metadata-Token") == "token":
			_, _ = w.Write([]byte(`{"region": "ap-south-1", "availabilityZone": "ap-south-1b", "instanceId": "i-0123456789abcdef0"}`))
		default:
			http.Error(w, "not found", http.StatusNotFound)
		}
	}))
	defer imds.Close()

	if _, err := hullaws.LoadConfig(context.Background(), nil); !errors.Is(err, hullaws.ErrNoRegion) {
		t.Errorf("IMDS disabled: %v, want ErrNoRegion", err)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	cfg, err := hullaws.LoadConfig(context.Background(), nil)
	if err != nil || cfg.Region != "ap-south-1" {
		t.Errorf("region %q, %v; want ap-south-1 from IMDS", cfg.Region, err)
	}
	if tokens == 0 {
		t.Error("IMDS was asked without an IMDSv2 token")
	}
}
