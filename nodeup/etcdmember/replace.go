package etcdmember

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TLSFiles are the client certificate, key and CA bundle used to talk to
// the other members.
type TLSFiles struct {
	Cert, Key, CA string
}

func (f TLSFiles) Config() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load etcd client certificate: %w", err)
	}
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("load etcd CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificates in %s", f.CA)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Replace swaps the member self.Name (registered by a machine that is gone)
// for self, through the running members at endpoints: it removes the old
// member (matched by name or by the old peer URL) and adds self's peer URL.
// It is idempotent, so a retry after a partial failure converges.
func Replace(ctx context.Context, endpoints []string, files TLSFiles, old, self *Member, log *slog.Logger) error {
	tlsConf, err := files.Config()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsConf, DialTimeout: 5 * time.Second, Context: ctx})
	if err != nil {
		return fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cli.MemberList(cctx)
	if err != nil {
		return fmt.Errorf("list etcd members at %v: %w", endpoints, err)
	}
	hasSelf := false
	for _, m := range list.Members {
		if slices.Contains(m.PeerURLs, self.PeerURL) {
			hasSelf = true
			continue
		}
		if m.Name == self.Name || (old != nil && slices.Contains(m.PeerURLs, old.PeerURL)) {
			log.Info("removing the replaced etcd member", "member", m.Name, "id", fmt.Sprintf("%x", m.ID), "peerURLs", m.PeerURLs)
			if _, err := cli.MemberRemove(cctx, m.ID); err != nil {
				return fmt.Errorf("remove etcd member %s (%x): %w", m.Name, m.ID, err)
			}
		}
	}
	if !hasSelf {
		log.Info("adding this machine as etcd member", "member", self.Name, "peerURL", self.PeerURL)
		if _, err := cli.MemberAdd(cctx, []string{self.PeerURL}); err != nil {
			return fmt.Errorf("add etcd member %s at %s: %w", self.Name, self.PeerURL, err)
		}
	}
	return nil
}
