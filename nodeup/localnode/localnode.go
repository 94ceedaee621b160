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

// EtcdStepTimeout bounds each phase of a restore on the local cloud, where
// every member runs on one host with a small database: a phase there takes
// seconds, so one that has not finished in 2 minutes has failed. A cloud's
// 10 minutes would keep the API down that long after a coordinator died.
const EtcdStepTimeout = 2 * time.Minute

// On the local cloud nodeup is the machine's boot process: it supervises
// the services itself, in the machine's cgroup.
func init() {
	model.RegisterCloud(model.Cloud{
		Name:             v1alpha1.CloudLocal,
		Supervised:       true,
		EtcdPollInterval: EtcdPollInterval,
		EtcdStepTimeout:  EtcdStepTimeout,
	})
}
