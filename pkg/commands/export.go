package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"

	"github.com/hullproject/hull/pkg/kube/kubeconfig"
)

func newExportCommand(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a cluster's client configuration",
	}
	cmd.AddCommand(newExportKubeconfigCommand(o))
	return cmd
}

func newExportKubeconfigCommand(o *rootOptions) *cobra.Command {
	var admin time.Duration
	var path string
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME --admin[=DURATION]",
		Short: "Write a kubeconfig with admin credentials for a cluster",
		Long: `Issue an admin client certificate (user hull-admin in group system:masters)
from the cluster's Kubernetes CA and merge a cluster, user and context, each
named after the cluster, into a kubeconfig file; the context becomes the
current one. Entries of other clusters are kept.

The certificate is valid for --admin's duration, 18h when none is given:
anyone holding the file can do anything to the cluster until it expires.
The API address is the one this host reaches the API load balancer at.`,
		Example: `  hull export kubeconfig demo.example.com --admin
  hull export kubeconfig demo.example.com --admin=2h --kubeconfig ./demo.kubeconfig`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			adminGiven := cmd.Flags().Changed("admin")
			args, err := durationArgument(args, adminGiven, &admin)
			if err != nil {
				return err
			}
			if !adminGiven {
				return usagef("pass --admin (or --admin=DURATION): admin credentials are the only kind hull exports for now")
			}
			if admin <= 0 {
				return usagef("--admin: the credentials' validity must be positive, got %s", admin)
			}
			name, err := clusterName(args, "")
			if err != nil {
				return err
			}
			if path == "" {
				path = kubeconfig.DefaultPath()
			}
			return o.exportKubeconfig(cmd.Context(), name, admin, path)
		},
	}
	cmd.Flags().DurationVar(&admin, "admin", kubeconfig.DefaultAdminTTL, "export admin credentials, valid for this long")
	cmd.Flags().Lookup("admin").NoOptDefVal = kubeconfig.DefaultAdminTTL.String()
	cmd.Flags().StringVar(&path, "kubeconfig", "", "kubeconfig file to merge into (default $KUBECONFIG, else ~/.kube/config)")
	return cmd
}

// durationArgument accepts `--admin 2h`: the flag takes its value only
// with an equals sign, so the duration arrives as the last argument.
func durationArgument(args []string, adminGiven bool, admin *time.Duration) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	last := args[len(args)-1]
	d, err := time.ParseDuration(last)
	switch {
	case adminGiven && err == nil:
		*admin = d
		return args[:len(args)-1], nil
	case len(args) > 1:
		return nil, usagef("unexpected argument %q: give one cluster name, and the validity as --admin=DURATION", last)
	}
	return args, nil
}

func (o *rootOptions) exportKubeconfig(ctx context.Context, name string, ttl time.Duration, path string) error {
	cl, err := o.openCluster(ctx, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg, err := cl.AdminKubeconfig(ctx, ttl)
	if err != nil {
		return err
	}
	if err := kubeconfig.Write(path, cfg, true); err != nil {
		return err
	}
	expires := "in " + ttl.String()
	if notAfter, err := clientCertExpiry(cfg, name); err == nil {
		expires = notAfter.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(o.out, "Wrote admin credentials for cluster %s to %s (they expire %s).\n", name, path, expires)
	fmt.Fprintf(o.out, "The current context is now %s; try: kubectl get nodes\n", name)
	return nil
}

// clientCertExpiry is when the user's certificate expires; it can be
// sooner than asked, when the CA expires first.
func clientCertExpiry(cfg *clientcmdapi.Config, user string) (time.Time, error) {
	a := cfg.AuthInfos[user]
	if a == nil {
		return time.Time{}, fmt.Errorf("no user %s", user)
	}
	certs, err := certutil.ParseCertsPEM(a.ClientCertificateData)
	if err != nil {
		return time.Time{}, fmt.Errorf("user %s: %w", user, err)
	}
	return certs[0].NotAfter, nil
}
