package awscli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/hullproject/hull/cloudup/aws/awstest"
	"github.com/hullproject/hull/pkg/state/statetest"
	"github.com/hullproject/hull/tests/harness"
)

// account is one AWS implementation a CLI test runs against: the
// project's emulator, or moto behind a recording proxy. Tests use the
// calls both share; what only the emulator can do (its clock, its event
// log) is in emu, nil on moto.
type account struct {
	name  string
	emu   *awstest.Server
	calls interface {
		Requests() []awstest.Request
		ResetRequests()
	}
	// sdk reaches the endpoint as any AWS client does.
	sdk aws.Config
	// before is moto's inventory when the test began.
	before []string
}

// zone is the Route 53 zone every account holds.
const zone = "example.com"

// forEachAccount runs test as a subtest against the emulator (made with
// o) and against moto, each with its own S3 state store, the default
// image and the hosted zone, and reports how long each took.
func forEachAccount(t *testing.T, o awstest.Options, test func(t *testing.T, a *account, e *harness.Env)) {
	for _, name := range []string{"awsemu", "moto"} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			a, e := newAccount(t, name, o)
			test(t, a, e)
			t.Logf("against %s: %s", name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func newAccount(t *testing.T, name string, o awstest.Options) (*account, *harness.Env) {
	t.Helper()
	a := &account{name: name}
	var endpoint string
	if name == "moto" {
		moto := awstest.StartMoto(t)
		rec, err := awstest.NewRecorder(moto)
		if err != nil {
			t.Fatal(err)
		}
		a.calls = rec
		endpoint = serve(t, rec)
	} else {
		a.emu = awstest.NewWithOptions(o)
		a.calls = a.emu
		endpoint = serve(t, a.emu)
	}
	store := statetest.StartS3(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "secret", "")))
	if err != nil {
		t.Fatal(err)
	}
	a.sdk = cfg
	a.registerImage(t, image)
	a.addHostedZone(t, zone)
	if a.emu == nil {
		if a.before, err = awstest.Inventory(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	return a, pointedAt(t, store, endpoint)
}

func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// registerImage makes an AMI of the account's own, as `hull image import` would.
func (a *account) registerImage(t *testing.T, name string) {
	t.Helper()
	_, err := ec2.NewFromConfig(a.sdk).RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(name),
		Architecture: ec2types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: aws.String("hvm")})
	if err != nil {
		t.Fatalf("register image %s: %v", name, err)
	}
}

// addHostedZone makes a public Route 53 zone, as its owner would.
func (a *account) addHostedZone(t *testing.T, name string) {
	t.Helper()
	if a.emu != nil { // the emulator has no CreateHostedZone
		a.emu.AddHostedZone(name)
		return
	}
	_, err := route53.NewFromConfig(a.sdk).CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name: aws.String(name), CallerReference: aws.String(a.name + "-" + name)})
	if err != nil {
		t.Fatalf("create hosted zone %s: %v", name, err)
	}
}

// leftovers lists what the test left in the account: on the emulator as
// it knows it, on moto what the SDK finds beyond what was there before.
func (a *account) leftovers(t *testing.T) []string {
	t.Helper()
	if a.emu != nil {
		return a.emu.Leftovers()
	}
	now, err := awstest.Inventory(context.Background(), a.sdk)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(now, func(s string) bool { return slices.Contains(a.before, s) })
}

// mutatingCalls lists the first attempts of the calls that change
// something since the log was last reset.
func (a *account) mutatingCalls() []string {
	var out []string
	for _, r := range a.calls.Requests() {
		if isMutating(r.Action) {
			out = append(out, r.Service+" "+r.Action)
		}
	}
	return out
}
