package aws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/smithy-go"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Options tune the provider. Zero values take the defaults.
type Options struct {
	// Config replaces the standard AWS chain (LoadConfig: env, profiles,
	// SSO, IMDS; AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> included).
	// Its region is settled as LoadConfig settles it, and its Retryer is
	// replaced by the adaptive retryer either way.
	Config *aws.Config
	// RetryMaxAttempts bounds each API call's attempts (default 10).
	RetryMaxAttempts int
	// RetryMaxBackoff bounds the wait between attempts (default the SDK's, 20s).
	RetryMaxBackoff time.Duration
	// DeleteTimeout bounds how long a delete retries dependency violations
	// and waits for resources to go (default 15m).
	DeleteTimeout time.Duration
	// DeleteBackoff is the first wait between those retries; it doubles up
	// to 30s (default 2s).
	DeleteBackoff time.Duration
	// ImageOwners are the AMI owners FindImage searches (default "self").
	ImageOwners []string
	// Owner is the cluster's identity (hull passes the one in its state
	// store). Every resource made is tagged with it, and every call refuses
	// a resource of the cluster's name tagged with another (see owner.go).
	// Without an ID the provider neither tags nor refuses, as before
	// clusters had identities.
	Owner cloud.Owner
}

func (o Options) withDefaults() Options {
	if o.RetryMaxAttempts <= 0 {
		o.RetryMaxAttempts = 10
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 15 * time.Minute
	}
	if o.DeleteBackoff <= 0 {
		o.DeleteBackoff = 2 * time.Second
	}
	if len(o.ImageOwners) == 0 {
		o.ImageOwners = []string{"self"}
	}
	return o
}

// Provider is cloud.Provider on AWS for one completed cluster.
type Provider struct {
	cluster *v1alpha1.Cluster
	model   *awsmodel.Cluster
	opts    Options
	owner   cloud.Owner

	ec2 *ec2.Client
	asg *autoscaling.Client
	elb *elb.Client
	iam *iam.Client
	r53 *route53.Client

	// netMu serialises EnsureNetwork (subnet tasks call it concurrently)
	// and the ensure steps of the network's resources, which share one
	// read of the network per apply and update it in place.
	netMu sync.Mutex
	// claimed says EnsureNetwork claimed the cluster (see claim).
	claimed bool
	// tgMu makes "find the API target group, then create or attach" atomic
	// between EnsureLoadBalancer and control-plane EnsureInstanceGroup,
	// which cloudup runs concurrently: whichever comes second attaches.
	tgMu sync.Mutex

	mu     sync.Mutex
	zoneID string // spec.dnsZone resolved
	images map[string]imageInfo
	sgIDs  map[string]string // security group key -> id
}

var _ cloud.Provider = (*Provider)(nil)

// DNS is the provider itself: it publishes the API name in Route 53 when
// the spec names a zone (spec.dnsZone).
func (p *Provider) DNS() cloud.DNS { return p }

// New builds the provider for a completed cluster. It makes no API call.
func New(ctx context.Context, c *v1alpha1.Cluster, opts Options) (*Provider, error) {
	if c == nil || c.Metadata.Name == "" {
		return nil, errors.New("aws provider: a completed cluster is required")
	}
	if c.Spec.CloudProvider != v1alpha1.CloudAWS {
		return nil, fmt.Errorf("aws provider: cluster %s is for cloud %q", c.Metadata.Name, c.Spec.CloudProvider)
	}
	owner := opts.Owner
	if owner.Cluster == "" {
		owner.Cluster = c.Metadata.Name
	}
	if owner.Cluster != c.Metadata.Name {
		return nil, fmt.Errorf("aws provider: cluster %s given the identity of cluster %s", c.Metadata.Name, owner.Cluster)
	}
	m, err := awsmodel.Build(c, owner)
	if err != nil {
		return nil, fmt.Errorf("aws provider: cluster %s: %w", c.Metadata.Name, err)
	}
	opts = opts.withDefaults()
	var cfg aws.Config
	if opts.Config != nil {
		cfg = opts.Config.Copy()
		err = settleRegion(ctx, &cfg, c)
	} else {
		cfg, err = LoadConfig(ctx, c)
	}
	if err != nil {
		return nil, fmt.Errorf("aws provider: cluster %s: %w", c.Metadata.Name, err)
	}
	cfg.Retryer = func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = opts.RetryMaxAttempts
				if opts.RetryMaxBackoff > 0 {
					so.MaxBackoff = opts.RetryMaxBackoff
				}
			})
		})
	}
	return &Provider{
		cluster: c, model: m, opts: opts, owner: owner,
		ec2: ec2.NewFromConfig(cfg), asg: autoscaling.NewFromConfig(cfg), elb: elb.NewFromConfig(cfg),
		iam: iam.NewFromConfig(cfg), r53: route53.NewFromConfig(cfg),
		images: map[string]imageInfo{},
	}, nil
}

// Name is the provider name, as spec.cloudProvider spells it.
func (p *Provider) Name() string { return v1alpha1.CloudAWS }

// Model is the AWS shape of the cluster the provider manages.
func (p *Provider) Model() *awsmodel.Cluster { return p.model }

func (p *Provider) name() string { return p.cluster.Metadata.Name }

// checkCluster refuses calls about another cluster: a provider is built
// from one cluster's spec.
func (p *Provider) checkCluster(cluster string) error {
	if cluster != p.name() {
		return fmt.Errorf("aws provider for cluster %s asked about cluster %s", p.name(), cluster)
	}
	return nil
}

// errorCode is the AWS error code of err, "" if it has none.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func hasCode(err error, codes ...string) bool {
	c := errorCode(err)
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// wrap names the resource an error is about and marks throttling that
// outlived the SDK's retries as transient, so the task graph retries it.
func wrap(err error, format string, a ...any) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf(format+": %w", append(a, err)...)
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &maxAttempts) || hasCode(err, "Throttling", "ThrottlingException", "RequestLimitExceeded",
		"RequestThrottled", "TooManyRequestsException", "PriorRequestNotComplete") {
		return &cloud.TransientError{Err: err}
	}
	return err
}

func ec2TagList(tags map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

// TagList is tags as EC2 takes them, sorted by key so that requests are
// stable: for bake, which tags what it builds the same way.
func TagList(tags map[string]string) []ec2types.Tag { return ec2TagList(tags) }

func tagSpec(rt ec2types.ResourceType, tags map[string]string) []ec2types.TagSpecification {
	return []ec2types.TagSpecification{{ResourceType: rt, Tags: ec2TagList(tags)}}
}

func ec2TagMap(tags []ec2types.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func asgTagMap(tags []asgtypes.TagDescription) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// clusterFilter selects what hull tagged for this cluster.
func (p *Provider) clusterFilter() ec2types.Filter {
	return ec2types.Filter{Name: aws.String("tag:" + awsmodel.TagCluster), Values: []string{p.name()}}
}

// Page sizes: the largest AWS allows, so a cluster's resources of one kind
// come back in one call until there are more of them than a page holds.
const (
	maxEC2Results   = 1000
	maxRouteTables  = 100
	maxTemplates    = 200
	maxASGRecords   = 100
	maxInstancePage = 1000
)

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Close releases nothing: the SDK's clients hold no connection of their own.
func (p *Provider) Close() error { return nil }
