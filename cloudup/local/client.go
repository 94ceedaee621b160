package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hullproject/hull/pkg/cloud"
)

// daemonStartTimeout bounds how long Connect waits for a daemon it started.
const daemonStartTimeout = 30 * time.Second

// ClientOptions says where to find the daemon and how to start one.
type ClientOptions struct {
	StateDir string
	Socket   string
	// DaemonCommand starts a daemon when none answers (for example
	// {"/usr/local/bin/hull", "local-cloud", "daemon"}); empty means never.
	DaemonCommand []string
}

// Client talks to the local cloud daemon. It implements cloud.Provider.
type Client struct {
	http   *http.Client
	socket string
	// owner is sent with every request (see owner.go); zero for a raw client.
	owner cloud.Owner
}

var _ cloud.Provider = (*Client)(nil)

// Connect dials the daemon, starting it detached first when nothing listens
// and opts.DaemonCommand is set.
func Connect(ctx context.Context, opts ClientOptions) (*Client, error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.Socket == "" {
		opts.Socket = DefaultSocket
	}
	c := newClient(opts.Socket)
	err := c.ping(ctx)
	if err == nil {
		return c, nil
	}
	if len(opts.DaemonCommand) == 0 {
		return nil, fmt.Errorf("local cloud daemon is not answering on %s: %w", opts.Socket, err)
	}
	if err := startDaemon(ctx, c, opts); err != nil {
		return nil, err
	}
	return c, nil
}

func newClient(socket string) *Client {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 4,
	}
	return &Client{http: &http.Client{Transport: transport}, socket: socket}
}

// startDaemon runs the daemon in its own session with its output in
// StateDir/daemon.log, so it outlives this process, then waits until it answers.
func startDaemon(ctx context.Context, c *Client, opts ClientOptions) error {
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return fmt.Errorf("start local cloud daemon: %w", err)
	}
	logPath := filepath.Join(opts.StateDir, "daemon.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start local cloud daemon: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(opts.DaemonCommand[0], opts.DaemonCommand[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start local cloud daemon %q: %w", strings.Join(opts.DaemonCommand, " "), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // reaps it if it dies while we wait

	var exitErr error // set when the daemon exited without answering
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, daemonStartTimeout, true, func(ctx context.Context) (bool, error) {
		if c.ping(ctx) == nil {
			return true, nil
		}
		select {
		case err := <-exited:
			// Another hull may have started a daemon at the same time; ours
			// then lost the lock race, and theirs is the one to use.
			if c.ping(ctx) == nil {
				return true, nil
			}
			exitErr = fmt.Errorf("local cloud daemon exited (%v) before answering on %s; %s:\n%s", err, opts.Socket, logPath, logTail(logPath))
			return false, exitErr
		default:
			return false, nil
		}
	})
	switch {
	case exitErr != nil:
		return exitErr
	case err != nil:
		return fmt.Errorf("local cloud daemon did not answer on %s within %s; %s:\n%s", opts.Socket, daemonStartTimeout, logPath, logTail(logPath))
	}
	return nil
}

// logTail returns the last lines of a log for an error message.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// ForCluster returns a client that acts for owner: the daemon records owner
// as the owner of what it creates for that cluster and refuses requests
// about resources another identity owns. Both clients share connections.
func (c *Client) ForCluster(owner cloud.Owner) *Client {
	cp := *c
	cp.owner = owner
	return &cp
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Name is the provider's name.
func (c *Client) Name() string { return "local" }

func (c *Client) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.do(ctx, http.MethodGet, "/v1/ping", nil, nil)
}

// Shutdown stops the daemon; machines keep running and the next daemon re-adopts them.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/shutdown", nil, nil)
}

// do sends one request. A daemon that cannot be reached or says it is busy
// gives a cloud.TransientError, so callers retry.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("local cloud %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://local-cloud"+path, body)
	if err != nil {
		return fmt.Errorf("local cloud %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.owner.ID != "" {
		req.Header.Set(headerOwnerID, c.owner.ID)
		req.Header.Set(headerOwnerStore, c.owner.Store)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("local cloud %s %s: %w", method, path, ctx.Err())
		}
		return &cloud.TransientError{Err: fmt.Errorf("local cloud daemon on %s: %w", c.socket, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return &cloud.TransientError{Err: fmt.Errorf("local cloud %s %s: read response: %w", method, path, err)}
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = fmt.Sprintf("local cloud %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		}
		e.Status = resp.StatusCode
		if resp.StatusCode == http.StatusServiceUnavailable {
			return &cloud.TransientError{Err: e}
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("local cloud %s %s: decode response: %w", method, path, err)
		}
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// FindNetwork returns the cluster's network, or nil, nil when it has none.
func (c *Client) FindNetwork(ctx context.Context, cluster string) (*cloud.Network, error) {
	var n cloud.Network
	err := c.do(ctx, http.MethodGet, "/v1/networks/"+esc(cluster), nil, &n)
	if errors.Is(err, cloud.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// EnsureNetwork creates or updates the cluster's network and returns it with its outputs filled.
func (c *Client) EnsureNetwork(ctx context.Context, n *cloud.Network) (*cloud.Network, error) {
	var out cloud.Network
	if err := c.do(ctx, http.MethodPut, "/v1/networks/"+esc(n.Cluster), n, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteNetwork deletes the cluster's network; it refuses while anything still uses it.
func (c *Client) DeleteNetwork(ctx context.Context, cluster string) error {
	return c.do(ctx, http.MethodDelete, "/v1/networks/"+esc(cluster), nil, nil)
}

// ImportImage verifies the image directory dir and records it as name.
func (c *Client) ImportImage(ctx context.Context, name, dir string) (*cloud.Image, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("import image %s: %w", name, err)
	}
	var img cloud.Image
	if err := c.do(ctx, http.MethodPut, "/v1/images/"+esc(name), &importRequest{Dir: abs}, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// FindImage returns the image, or an error wrapping cloud.ErrNotFound that
// says what is missing or corrupt.
func (c *Client) FindImage(ctx context.Context, name string) (*cloud.Image, error) {
	var img cloud.Image
	if err := c.do(ctx, http.MethodGet, "/v1/images/"+esc(name), nil, &img); err != nil {
		return nil, err
	}
	return &img, nil
}

// FindLaunchConfigs returns every launch config of the cluster.
func (c *Client) FindLaunchConfigs(ctx context.Context, cluster string) ([]*cloud.LaunchConfig, error) {
	var out []*cloud.LaunchConfig
	err := c.do(ctx, http.MethodGet, "/v1/clusters/"+esc(cluster)+"/launchconfigs", nil, &out)
	return out, err
}

// EnsureLaunchConfig creates or replaces a group's launch config.
func (c *Client) EnsureLaunchConfig(ctx context.Context, lc *cloud.LaunchConfig) error {
	return c.do(ctx, http.MethodPut, "/v1/clusters/"+esc(lc.Cluster)+"/launchconfigs/"+esc(lc.Group), lc, nil)
}

// DeleteLaunchConfig deletes a group's launch config; it refuses while the group exists.
func (c *Client) DeleteLaunchConfig(ctx context.Context, cluster, group string) error {
	return c.do(ctx, http.MethodDelete, "/v1/clusters/"+esc(cluster)+"/launchconfigs/"+esc(group), nil, nil)
}

// FindInstanceGroups returns every instance group of the cluster.
func (c *Client) FindInstanceGroups(ctx context.Context, cluster string) ([]*cloud.InstanceGroup, error) {
	var out []*cloud.InstanceGroup
	err := c.do(ctx, http.MethodGet, "/v1/clusters/"+esc(cluster)+"/groups", nil, &out)
	return out, err
}

// EnsureInstanceGroup creates or updates a group. A Desired of 0 keeps the
// current target (MinSize for a new group); any other value is the new target.
// Either way the target is clamped to [MinSize, MaxSize].
func (c *Client) EnsureInstanceGroup(ctx context.Context, g *cloud.InstanceGroup) error {
	return c.do(ctx, http.MethodPut, "/v1/clusters/"+esc(g.Cluster)+"/groups/"+esc(g.Name), g, nil)
}

// DeleteInstanceGroup terminates the group's machines, waits for them, and
// removes the group and its launch config.
func (c *Client) DeleteInstanceGroup(ctx context.Context, cluster, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/clusters/"+esc(cluster)+"/groups/"+esc(name), nil, nil)
}

// ListInstances returns the cluster's instances that are not terminated, detached ones included, sorted by group then id.
func (c *Client) ListInstances(ctx context.Context, cluster string) ([]*cloud.Instance, error) {
	var out []*cloud.Instance
	err := c.do(ctx, http.MethodGet, "/v1/clusters/"+esc(cluster)+"/instances", nil, &out)
	return out, err
}

// GetInstance returns one instance, terminated ones included for a while.
func (c *Client) GetInstance(ctx context.Context, id string) (*cloud.Instance, error) {
	var out cloud.Instance
	if err := c.do(ctx, http.MethodGet, "/v1/instances/"+esc(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Machine returns the sandbox details of an instance (pid, netns, cgroup,
// paths), for debugging and tests.
func (c *Client) Machine(ctx context.Context, id string) (*MachineInfo, error) {
	var out MachineInfo
	if err := c.do(ctx, http.MethodGet, "/v1/instances/"+esc(id)+"/machine", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TerminateInstance stops a machine and waits until it is gone.
func (c *Client) TerminateInstance(ctx context.Context, id string, decrement bool) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/instances/%s/terminate?decrement=%t", esc(id), decrement), nil, nil)
}

// DetachInstance takes a machine out of its group's count without stopping it.
func (c *Client) DetachInstance(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/instances/"+esc(id)+"/detach", nil, nil)
}

// FindLoadBalancer returns the load balancer, or nil, nil when absent.
func (c *Client) FindLoadBalancer(ctx context.Context, cluster, name string) (*cloud.LoadBalancer, error) {
	var out cloud.LoadBalancer
	err := c.do(ctx, http.MethodGet, "/v1/clusters/"+esc(cluster)+"/loadbalancers/"+esc(name), nil, &out)
	if errors.Is(err, cloud.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// EnsureLoadBalancer creates or updates a load balancer and returns it with its addresses.
func (c *Client) EnsureLoadBalancer(ctx context.Context, lb *cloud.LoadBalancer) (*cloud.LoadBalancer, error) {
	var out cloud.LoadBalancer
	if err := c.do(ctx, http.MethodPut, "/v1/clusters/"+esc(lb.Cluster)+"/loadbalancers/"+esc(lb.Name), lb, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteLoadBalancer stops the load balancer's listeners and forgets it.
func (c *Client) DeleteLoadBalancer(ctx context.Context, cluster, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/clusters/"+esc(cluster)+"/loadbalancers/"+esc(name), nil, nil)
}

// LoadBalancerHost is "": a local load balancer has addresses, no DNS
// name; machines reach the API at the first subnet's gateway (see Driver).
func (c *Client) LoadBalancerHost(context.Context, string, string) (string, error) { return "", nil }

// FindExtras finds nothing: the local cloud owns no more for a cluster
// than its network, groups, launch configs and load balancers.
func (c *Client) FindExtras(context.Context, string) ([]string, error) { return nil, nil }

// DNS is nil: the local cloud publishes no DNS records.
func (c *Client) DNS() cloud.DNS { return nil }
