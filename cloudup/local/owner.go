package local

import (
	"net/http"

	"github.com/hullproject/hull/pkg/cloud"
)

// Headers that carry the caller's cluster identity. A request without them
// comes from a raw API client (an operator's script, a test), which acts as
// the cloud's administrator would and is not checked; hull always sends them.
const (
	headerOwnerID    = "Hull-Owner-Id"
	headerOwnerStore = "Hull-Owner-Store"
)

// requestOwner is the identity the caller presents for cluster.
func requestOwner(r *http.Request, cluster string) cloud.Owner {
	return cloud.Owner{Cluster: cluster, ID: r.Header.Get(headerOwnerID), Store: r.Header.Get(headerOwnerStore)}
}

// checkOwner refuses a caller whose identity differs from the one that owns
// cluster's resources. With claim (a create or change), a cluster whose
// resources have no owner yet becomes the caller's: a fresh cluster, or one
// made by a hull that kept no identities. An owner whose resources are all
// gone no longer counts, so a deleted cluster's name is free again.
func (d *daemon) checkOwner(r *http.Request, cluster, resource string, claim bool) error {
	caller := requestOwner(r, cluster)
	if caller.ID == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.st.Owners[cluster]
	if cur != nil && !d.clusterHasResourcesLocked(cluster) {
		delete(d.st.Owners, cluster)
		cur = nil
	}
	switch {
	case cur != nil && cur.ID != caller.ID:
		return &Error{Status: http.StatusConflict, Reason: reasonForeignOwner, Message: (&cloud.ForeignOwnerError{Resource: resource, Owner: *cur, Caller: caller}).Error()}
	case cur == nil && claim:
		d.st.Owners[cluster] = &caller
		d.log.Info("cluster owner recorded", "cluster", cluster, "id", caller.ID, "store", caller.Store)
		return d.saveLocked()
	}
	return nil
}

// checkInstanceOwner is checkOwner for a request that names an instance.
func (d *daemon) checkInstanceOwner(r *http.Request, id string) error {
	d.mu.Lock()
	inst := d.st.Instances[id]
	d.mu.Unlock()
	if inst == nil {
		return nil // the handler reports it missing
	}
	return d.checkOwner(r, inst.Cluster, "Instance/"+id, false)
}

// clusterHasResourcesLocked reports whether anything of cluster is left.
func (d *daemon) clusterHasResourcesLocked(cluster string) bool {
	if d.st.Networks[cluster] != nil || len(d.clusterUsersLocked(cluster)) > 0 {
		return true
	}
	for _, lc := range d.st.LaunchConfigs {
		if lc.Cluster == cluster {
			return true
		}
	}
	return false
}

// owned checks the caller's identity before h runs, for routes that name a
// cluster; the resource named in a refusal is kind/<name, group or cluster>.
func (d *daemon) owned(kind string, claim bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cluster := r.PathValue("cluster")
		name := cluster
		for _, v := range []string{"name", "group"} {
			if n := r.PathValue(v); n != "" {
				name = n
			}
		}
		if err := d.checkOwner(r, cluster, kind+"/"+name, claim); err != nil {
			writeResult(w, nil, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ownedInstance is owned for routes that name an instance.
func (d *daemon) ownedInstance(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.checkInstanceOwner(r, r.PathValue("id")); err != nil {
			writeResult(w, nil, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
