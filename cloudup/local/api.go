package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hullproject/hull/pkg/cloud"
)

// Error kinds a client can test with errors.Is (besides cloud.ErrNotFound).
var (
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid request")
)

// Error is an error the daemon reports: its message and an HTTP status that
// says what kind of error it is. The same type travels both ways, so the
// client hands callers exactly what the daemon decided.
type Error struct {
	Status  int    `json:"status"`
	Message string `json:"error"`
	// Reason refines Status where callers must tell cases apart.
	Reason string `json:"reason,omitempty"`
}

// reasonForeignOwner: the resource belongs to another cluster identity.
const reasonForeignOwner = "ForeignOwner"

func (e *Error) Error() string { return e.Message }

// Unwrap maps the status to the sentinel callers test with errors.Is.
func (e *Error) Unwrap() error {
	if e.Reason == reasonForeignOwner {
		return cloud.ErrForeignOwner
	}
	switch e.Status {
	case http.StatusNotFound:
		return cloud.ErrNotFound
	case http.StatusConflict:
		return ErrConflict
	case http.StatusBadRequest:
		return ErrInvalid
	}
	return nil
}

func errNotFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...)}
}

func errConflict(format string, args ...any) error {
	return &Error{Status: http.StatusConflict, Message: fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func errBusy(format string, args ...any) error {
	return &Error{Status: http.StatusServiceUnavailable, Message: fmt.Sprintf(format, args...)}
}

// importRequest asks the daemon to import the image directory Dir (a path on
// this host: client and daemon share the host).
type importRequest struct {
	Dir string `json:"dir"`
}

type empty struct{}

// routes is the daemon's HTTP API. Every body is JSON; errors are
// {"status", "error"} with the same HTTP status.
func (d *daemon) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/ping", handle(func(r *http.Request) (empty, error) { return empty{}, nil }))
	mux.Handle("POST /v1/shutdown", handle(func(r *http.Request) (empty, error) {
		d.requestShutdown()
		return empty{}, nil
	}))

	mux.Handle("GET /v1/registry", handle(func(r *http.Request) (*RegistryInfo, error) { return d.registryInfo(), nil }))

	mux.Handle("GET /v1/networks/{cluster}", d.owned("Network", false, handle(func(r *http.Request) (*cloud.Network, error) {
		return d.findNetwork(r.PathValue("cluster"))
	})))
	mux.Handle("PUT /v1/networks/{cluster}", d.owned("Network", true, handleBody(func(r *http.Request, n *cloud.Network) (*cloud.Network, error) {
		n.Cluster = r.PathValue("cluster")
		return d.ensureNetwork(n)
	})))
	mux.Handle("DELETE /v1/networks/{cluster}", d.owned("Network", false, handle(func(r *http.Request) (empty, error) {
		return empty{}, d.deleteNetwork(r.PathValue("cluster"))
	})))

	mux.Handle("PUT /v1/images/{name}", handleBody(func(r *http.Request, req *importRequest) (*cloud.Image, error) {
		return d.importImage(r.PathValue("name"), req.Dir)
	}))
	mux.Handle("GET /v1/images/{name}", handle(func(r *http.Request) (*cloud.Image, error) {
		return d.findImage(r.PathValue("name"))
	}))

	mux.Handle("GET /v1/clusters/{cluster}/launchconfigs", d.owned("LaunchConfig", false, handle(func(r *http.Request) ([]*cloud.LaunchConfig, error) {
		return d.findLaunchConfigs(r.PathValue("cluster")), nil
	})))
	mux.Handle("PUT /v1/clusters/{cluster}/launchconfigs/{group}", d.owned("LaunchConfig", true, handleBody(func(r *http.Request, lc *cloud.LaunchConfig) (empty, error) {
		lc.Cluster, lc.Group = r.PathValue("cluster"), r.PathValue("group")
		return empty{}, d.ensureLaunchConfig(lc)
	})))
	mux.Handle("DELETE /v1/clusters/{cluster}/launchconfigs/{group}", d.owned("LaunchConfig", false, handle(func(r *http.Request) (empty, error) {
		return empty{}, d.deleteLaunchConfig(r.PathValue("cluster"), r.PathValue("group"))
	})))

	mux.Handle("GET /v1/clusters/{cluster}/groups", d.owned("InstanceGroup", false, handle(func(r *http.Request) ([]*cloud.InstanceGroup, error) {
		return d.findGroups(r.PathValue("cluster")), nil
	})))
	mux.Handle("PUT /v1/clusters/{cluster}/groups/{name}", d.owned("InstanceGroup", true, handleBody(func(r *http.Request, g *cloud.InstanceGroup) (empty, error) {
		g.Cluster, g.Name = r.PathValue("cluster"), r.PathValue("name")
		return empty{}, d.ensureGroup(g)
	})))
	mux.Handle("DELETE /v1/clusters/{cluster}/groups/{name}", d.owned("InstanceGroup", false, handle(func(r *http.Request) (empty, error) {
		return empty{}, d.deleteGroup(r.Context(), r.PathValue("cluster"), r.PathValue("name"))
	})))

	mux.Handle("GET /v1/clusters/{cluster}/instances", d.owned("Instance", false, handle(func(r *http.Request) ([]*cloud.Instance, error) {
		return d.listInstances(r.PathValue("cluster")), nil
	})))
	mux.Handle("GET /v1/instances/{id}", d.ownedInstance(handle(func(r *http.Request) (*cloud.Instance, error) {
		return d.getInstance(r.PathValue("id"))
	})))
	mux.Handle("GET /v1/instances/{id}/machine", d.ownedInstance(handle(func(r *http.Request) (*MachineInfo, error) {
		return d.machineInfo(r.PathValue("id"))
	})))
	mux.Handle("POST /v1/instances/{id}/terminate", d.ownedInstance(handle(func(r *http.Request) (empty, error) {
		decrement, err := strconv.ParseBool(r.URL.Query().Get("decrement"))
		if err != nil {
			return empty{}, errInvalid("terminate: decrement must be true or false")
		}
		return empty{}, d.terminateInstance(r.Context(), r.PathValue("id"), decrement)
	})))
	mux.Handle("POST /v1/instances/{id}/detach", d.ownedInstance(handle(func(r *http.Request) (empty, error) {
		return empty{}, d.detachInstance(r.PathValue("id"))
	})))

	mux.Handle("GET /v1/clusters/{cluster}/loadbalancers/{name}", d.owned("LoadBalancer", false, handle(func(r *http.Request) (*cloud.LoadBalancer, error) {
		return d.findLoadBalancer(r.PathValue("cluster"), r.PathValue("name"))
	})))
	mux.Handle("PUT /v1/clusters/{cluster}/loadbalancers/{name}", d.owned("LoadBalancer", true, handleBody(func(r *http.Request, lb *cloud.LoadBalancer) (*cloud.LoadBalancer, error) {
		lb.Cluster, lb.Name = r.PathValue("cluster"), r.PathValue("name")
		return d.ensureLoadBalancer(lb)
	})))
	mux.Handle("DELETE /v1/clusters/{cluster}/loadbalancers/{name}", d.owned("LoadBalancer", false, handle(func(r *http.Request) (empty, error) {
		return empty{}, d.deleteLoadBalancer(r.PathValue("cluster"), r.PathValue("name"))
	})))
	return mux
}

// handle adapts fn to an http.Handler that writes its result or error as JSON.
func handle[T any](fn func(r *http.Request) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		writeResult(w, v, err)
	})
}

// handleBody is handle for requests with a JSON body.
func handleBody[In, Out any](fn func(r *http.Request, in *In) (Out, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := new(In)
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(in); err != nil {
			var zero Out
			writeResult(w, zero, errInvalid("decode %s %s: %v", r.Method, r.URL.Path, err))
			return
		}
		v, err := fn(r, in)
		writeResult(w, v, err)
	})
}

func writeResult(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Status: http.StatusInternalServerError, Message: err.Error()}
		} else if e.Message != err.Error() {
			// Keep the context wrapped around the daemon's error.
			e = &Error{Status: e.Status, Reason: e.Reason, Message: err.Error()}
		}
		w.WriteHeader(e.Status)
		_ = json.NewEncoder(w).Encode(e)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
