package localnode

import (
	"time"

	"github.com/hullproject/hull/nodeup/model"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// EtcdPollInterval is how often the etcd managers of the local cloud read
// restore commands and backup requests: its store is a local directory,
// where reads are free.
const EtcdPollInterval = 2 * time.Second

// On the local cloud nodeup is the machine's boot process: it supervises
// the services itself, in the machine's cgroup.
func init() {
	model.RegisterCloud(model.Cloud{
		Name:             v1alpha1.CloudLocal,
		Supervised:       true,
		EtcdPollInterval: EtcdPollInterval,
	})
}
