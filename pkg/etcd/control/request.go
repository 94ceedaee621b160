package control

import (
	"context"
	"time"

	"github.com/hullproject/hull/pkg/state"
)

// RequestPhase is where a backup request stands.
type RequestPhase string

// Backup request phases; the leader moves Pending to Succeeded or Failed.
const (
	RequestPending   RequestPhase = "Pending"
	RequestSucceeded RequestPhase = "Succeeded"
	RequestFailed    RequestPhase = "Failed"
)

// BackupRequest asks the backup leader for a backup now. The requester
// removes it once it has read the outcome.
type BackupRequest struct {
	ID          string       `json:"id"`
	RequestedBy string       `json:"requestedBy,omitempty"`
	Created     time.Time    `json:"created"`
	Phase       RequestPhase `json:"phase"`
	// Backup names the backup taken for the request.
	Backup   string    `json:"backup,omitempty"`
	Error    string    `json:"error,omitempty"`
	Finished time.Time `json:"finished,omitzero"`
}

// ListBackupRequests returns the backup requests, oldest first, and apart
// those that cannot be read or decoded.
func ListBackupRequests(ctx context.Context, store *state.Store, cluster, etcdCluster string) ([]*BackupRequest, []Damaged, error) {
	return list[BackupRequest](ctx, store, cluster, etcdCluster, "backup", BackupRequestKey)
}
