package awsroutes

import (
	"context"
	"log/slog"

	"k8s.io/client-go/kubernetes"

	"github.com/hullproject/hull/nodeup/model"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// On AWS pod traffic goes through the VPC route tables, which the control
// plane keeps (this package's controller), and the VPC delivers pod
// addresses only inside the cluster.
func init() {
	model.RegisterCloud(model.Cloud{
		Name:                      v1alpha1.CloudAWS,
		MasqueradePods:            true,
		PodRoutes:                 runRoutes,
		PodRoutesControlPlaneOnly: true,
	})
}

func runRoutes(ctx context.Context, in *model.Input, kube kubernetes.Interface, log *slog.Logger) {
	rc, err := New(ctx, in.Config.ClusterName, in.Config.PodCIDR, log)
	if err != nil {
		log.Error("VPC pod route controller cannot start", "err", err)
		return
	}
	rc.Run(ctx, kube, DefaultInterval)
}
