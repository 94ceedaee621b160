package awstest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Services, as the SigV4 credential scope names them.
const (
	ServiceEC2         = "ec2"
	ServiceAutoScaling = "autoscaling"
	ServiceELBv2       = "elasticloadbalancing"
	ServiceIAM         = "iam"
	ServiceSTS         = "sts"
	ServiceRoute53     = "route53"
)

// Account and Region the emulator pretends to be.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Options tune a Server.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// PageLimit caps every page of a paginated call, whatever page size the
	// caller asks for (0: AWS's own limits), to exercise pagination.
	PageLimit int
	// ManualReconcile stops the emulator advancing its simulation (instance
	// launches and terminations, NAT gateway and load balancer states)
	// before every request; the test calls Reconcile itself.
	ManualReconcile bool
	// TerminationSteps is how many reconciles a shutting-down instance
	// takes to terminate (default 1), so deletes that depend on it see
	// DependencyViolation first.
	TerminationSteps int
	// NATDeletionSteps is how many reconciles a deleting NAT gateway takes
	// to go (default 1); until then its address is in use
	// (InvalidIPAddress.InUse) and the internet gateway cannot be detached.
	NATDeletionSteps int
	// PowerOffSteps is how many reconciles an image builder (a machine
	// from RunInstances whose user-data script ends in poweroff) runs
	// before it powers off (default 2).
	PowerOffSteps int
}

// Request is one recorded API call.
type Request struct {
	Service string
	// Region is the region the call was signed for (its SigV4 scope).
	Region    string
	Action    string
	Time      time.Time
	Status    int
	ErrorCode string
	// Attempt is the SDK's attempt number (amz-sdk-request), 1 for a first try.
	Attempt int
	// Params are the query-protocol parameters (InstanceId,
	// ShouldDecrementDesiredCapacity, ...), so tests can assert what a
	// call asked for; nil for Route 53's REST calls.
	Params url.Values
}

// Param is the first value of a request parameter, "" when absent.
func (r Request) Param(name string) string { return r.Params.Get(name) }

// Retry reports whether the SDK sent this as a retry of an earlier
// attempt. On loopback the SDK sometimes retries a call whose response it
// lost to a client-side race (it closes the request body while net/http's
// write loop still reads it, which tears the connection down), so call
// budgets count first attempts.
func (r Request) Retry() bool { return r.Attempt > 1 }

// ReadOnly reports whether the call only reads (Describe*, List*, Get*).
func (r Request) ReadOnly() bool {
	for _, p := range []string{"Describe", "List", "Get"} {
		if strings.HasPrefix(r.Action, p) {
			return true
		}
	}
	return false
}

// Server is the emulated AWS endpoint: an http.Handler.
type Server struct {
	opts Options

	mu       sync.Mutex
	seq      int
	step     int
	log      []Request
	throttle map[string]int     // service ("" any) -> calls left to throttle
	failures map[string]failure // "service:Action" -> injected failure

	ec2 ec2State
	asg asgState
	elb elbState
	iam iamState
	r53 r53State
}

// New returns an empty endpoint with default options.
func New() *Server { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty endpoint.
func NewWithOptions(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TerminationSteps <= 0 {
		o.TerminationSteps = 1
	}
	if o.NATDeletionSteps <= 0 {
		o.NATDeletionSteps = 1
	}
	if o.PowerOffSteps <= 0 {
		o.PowerOffSteps = 2
	}
	s := &Server{opts: o, throttle: map[string]int{}, failures: map[string]failure{}}
	s.ec2.init()
	s.asg.init()
	s.elb.init()
	s.iam.init()
	s.r53.init()
	return s
}

// SetPageLimit changes Options.PageLimit.
func (s *Server) SetPageLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.PageLimit = n
}

// SetManualReconcile changes Options.ManualReconcile.
func (s *Server) SetManualReconcile(manual bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.ManualReconcile = manual
}

// Throttle makes the next n calls to service ("" for any service) fail with
// the service's throttling error (EC2 RequestLimitExceeded, others Throttling).
func (s *Server) Throttle(service string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[service] = n
}

type failure struct {
	code string
	left int // calls left to fail; < 0 for every call
}

// Fail makes the next n calls of service's action (n < 0: every call,
// until Fail with n = 0) fail with the error code, as when a policy denies
// them ("AccessDenied", HTTP 403) or AWS refuses them (HTTP 400).
func (s *Server) Fail(service, action, code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n == 0 {
		delete(s.failures, service+":"+action)
		return
	}
	s.failures[service+":"+action] = failure{code: code, left: n}
}

func (s *Server) injectedLocked(service, action string) *apiError {
	k := service + ":" + action
	f, ok := s.failures[k]
	if !ok {
		return nil
	}
	if f.left > 0 {
		if f.left--; f.left == 0 {
			delete(s.failures, k)
		} else {
			s.failures[k] = f
		}
	}
	status := http.StatusBadRequest
	if f.code == "AccessDenied" || f.code == "UnauthorizedOperation" {
		status = http.StatusForbidden
	}
	return newErr(status, f.code, "awsemu: %s fails on request", action)
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Reconcile advances the simulation one step: pending instances run,
// shutting-down ones terminate, autoscaling groups launch or terminate
// machines to reach their desired capacity, NAT gateways and load balancers
// finish their transitions.
func (s *Server) Reconcile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reconcileLocked()
}

func (s *Server) reconcileLocked() {
	s.step++
	s.stepInstancesLocked()
	s.stepImagesLocked()
	s.stepNATLocked()
	s.elb.step()
	s.stepGroupsLocked()
}

// nextID makes a resource id: prefix-<17 hex digits>, increasing, so
// listing by id lists in creation order.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%017x", prefix, s.seq)
}

func (s *Server) now() time.Time { return s.opts.Now().UTC() }

var (
	scopeRE   = regexp.MustCompile(`Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request`)
	versionOf = map[string]string{
		"2016-11-15": ServiceEC2, "2011-01-01": ServiceAutoScaling, "2015-12-01": ServiceELBv2,
		"2010-05-08": ServiceIAM, "2011-06-15": ServiceSTS,
	}
)

// ServeHTTP answers one AWS API call. Credentials are not checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec, form, err := readRequest(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	service, action := rec.Service, rec.Action

	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Time = s.now()
	var out []byte
	var aerr *apiError
	switch {
	case s.throttledLocked(service):
		code := "Throttling"
		if service == ServiceEC2 {
			code = "RequestLimitExceeded"
		}
		aerr = newErr(http.StatusBadRequest, code, "Rate exceeded")
		if service == ServiceEC2 {
			aerr.status = http.StatusServiceUnavailable
		}
	default:
		if aerr = s.injectedLocked(service, action); aerr != nil {
			break
		}
		if !s.opts.ManualReconcile {
			s.reconcileLocked()
		}
		out, aerr = s.dispatchLocked(service, action, params{v: form}, r, body)
	}
	rec.Status = http.StatusOK
	if aerr != nil {
		rec.Status, rec.ErrorCode = aerr.status, aerr.code
		out = errorBody(service, aerr, s.requestID())
	}
	s.log = append(s.log, rec)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", s.requestID())
	w.WriteHeader(rec.Status)
	_, _ = w.Write(out)
}

func (s *Server) requestID() string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", len(s.log)) }

func (s *Server) throttledLocked(service string) bool {
	for _, k := range []string{service, ""} {
		if s.throttle[k] > 0 {
			s.throttle[k]--
			return true
		}
	}
	return false
}

// readRequest tells which service and action an AWS API call is, and
// reads its query-protocol parameters (nil for Route 53's REST calls).
func readRequest(r *http.Request, body []byte) (Request, url.Values, error) {
	service, region := "", ""
	if m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		region, service = m[1], m[2]
	}
	if strings.HasPrefix(r.URL.Path, "/2013-04-01/") {
		service = ServiceRoute53
	}
	var form url.Values
	action := ""
	if service != ServiceRoute53 {
		var err error
		if form, err = url.ParseQuery(string(body)); err != nil {
			return Request{}, nil, err
		}
		for k, v := range r.URL.Query() {
			form[k] = v
		}
		action = form.Get("Action")
		if service == "" {
			service = versionOf[form.Get("Version")]
		}
	} else {
		action = route53Action(r)
	}
	rec := Request{Service: service, Region: region, Action: action, Attempt: 1, Params: form}
	if _, a, ok := strings.Cut(r.Header.Get("Amz-Sdk-Request"), "attempt="); ok {
		a, _, _ = strings.Cut(a, ";")
		fmt.Sscan(a, &rec.Attempt)
	}
	return rec, form, nil
}

// handler answers one action; it returns the children of the result element.
type handler func(p params) ([]x, *apiError)

func (s *Server) dispatchLocked(service, action string, p params, r *http.Request, body []byte) ([]byte, *apiError) {
	var table map[string]handler
	switch service {
	case ServiceEC2:
		table = s.ec2Handlers()
	case ServiceAutoScaling:
		table = s.asgHandlers()
	case ServiceELBv2:
		table = s.elbHandlers()
	case ServiceIAM:
		table = s.iamHandlers()
	case ServiceSTS:
		table = map[string]handler{"GetCallerIdentity": s.getCallerIdentity}
	case ServiceRoute53:
		return s.route53(action, r, body)
	default:
		return nil, newErr(http.StatusBadRequest, "UnknownService", "cannot tell the service of this request")
	}
	h := table[action]
	if h == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidAction", "%s does not emulate %s:%s", "awsemu", service, action)
	}
	kids, aerr := h(p)
	if aerr != nil {
		return nil, aerr
	}
	var b bytes.Buffer
	if service == ServiceEC2 {
		b.WriteString(`<` + action + `Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`)
		txt("requestId", s.requestID()).write(&b)
		for _, k := range kids {
			k.write(&b)
		}
		b.WriteString(`</` + action + `Response>`)
		return b.Bytes(), nil
	}
	ns := map[string]string{
		ServiceAutoScaling: "http://autoscaling.amazonaws.com/doc/2011-01-01/",
		ServiceELBv2:       "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
		ServiceIAM:         "https://iam.amazonaws.com/doc/2010-05-08/",
		ServiceSTS:         "https://sts.amazonaws.com/doc/2011-06-15/",
	}[service]
	b.WriteString(`<` + action + `Response xmlns="` + ns + `">`)
	el(action+"Result", kids...).write(&b)
	el("ResponseMetadata", txt("RequestId", s.requestID())).write(&b)
	b.WriteString(`</` + action + `Response>`)
	return b.Bytes(), nil
}

func errorBody(service string, e *apiError, reqID string) []byte {
	var b bytes.Buffer
	if service == ServiceEC2 {
		el("Response", el("Errors", el("Error", txt("Code", e.code), txt("Message", e.message))), txt("RequestID", reqID)).write(&b)
		return b.Bytes()
	}
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	el("ErrorResponse", el("Error", txt("Type", typ), txt("Code", e.code), txt("Message", e.message)), txt("RequestId", reqID)).write(&b)
	return b.Bytes()
}

// Leftovers lists every resource a cluster could have left behind, as
// "kind id"; images, hosted zones and terminated instances do not count.
func (s *Server) Leftovers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	out = append(out, s.ec2.leftovers()...)
	out = append(out, s.asg.leftovers()...)
	out = append(out, s.elb.leftovers()...)
	out = append(out, s.iam.leftovers()...)
	out = append(out, s.r53.leftovers()...)
	return out
}
