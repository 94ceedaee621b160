package model

import (
	"context"
	"io/fs"
	"net"
	"net/netip"
	"path"
	"slices"

	"github.com/hullproject/hull/nodeup/tasks"
	"github.com/hullproject/hull/pkg/pki"
)

func fsMode(m uint32) fs.FileMode { return fs.FileMode(m) }

func constant(b []byte) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) { return b, nil }
}

// Identities Kubernetes expects, as kubeadm issues them.
const (
	APIServerKubeletClientCN = "kube-apiserver-kubelet-client"
	FrontProxyClientCN       = "front-proxy-client"
	ControllerManagerCN      = "system:kube-controller-manager"
	SchedulerCN              = "system:kube-scheduler"
	AdminCN                  = "kubernetes-admin"
	MastersGroup             = "system:masters"
	NodesGroup               = "system:nodes"
)

// NodeUser is the user name of a node's kubelet.
func NodeUser(hostname string) string { return "system:node:" + hostname }

// pkiTasks writes the trust bundles every machine needs and, on the
// control plane, every leaf certificate and the keys of the CAs the
// controller-manager signs with.
func pkiTasks(in *Input) ([]tasks.Task, error) {
	kube, err := in.keyset(pki.KubernetesCA)
	if err != nil {
		return nil, err
	}
	list := []tasks.Task{in.bundle("pki/ca-bundle", CACert, kube)}
	if !in.IsControlPlane() {
		return list, nil
	}
	front, err := in.keyset(pki.FrontProxyCA)
	if err != nil {
		return nil, err
	}
	sa, err := in.keyset(pki.ServiceAccount)
	if err != nil {
		return nil, err
	}
	caKey, err := kube.Primary.KeyPEM()
	if err != nil {
		return nil, err
	}
	saKey, err := sa.Primary.KeyPEM()
	if err != nil {
		return nil, err
	}
	saPub, err := sa.Primary.PublicKeyPEM()
	if err != nil {
		return nil, err
	}
	secret := func(name, p string, data []byte) tasks.Task {
		f := in.file(name, p, 0o600, data)
		f.Secret = true
		return f
	}
	list = append(list,
		// The controller-manager signs kubelet client certificates (TLS
		// bootstrap) with the Kubernetes CA.
		secret("pki/ca-key", CAKey, caKey),
		in.bundle("pki/front-proxy-ca-bundle", FrontProxyCACert, front),
		secret("pki/service-account-key", SAKey, saKey),
		in.summarized(in.file("pki/service-account-pub", SAPub, 0o644, saPub), "public key of keyset "+sa.Name),
	)

	cert := func(name, file string, ca *pki.Keyset, req pki.LeafRequest) {
		c, k := pkiPair(file)
		list = append(list, &tasks.Cert{TaskName: "certs/" + name, TaskPhase: tasks.PhaseFiles, Root: in.Root, CertPath: c, KeyPath: k, CA: ca, Request: req, Now: in.Now})
	}
	cert("apiserver", "apiserver", kube, pki.LeafRequest{CommonName: "kube-apiserver", Usage: pki.ServerAuth, DNSNames: apiServerDNS(in), IPAddresses: apiServerIPs(in)})
	cert("apiserver-kubelet-client", "apiserver-kubelet-client", kube, pki.LeafRequest{CommonName: APIServerKubeletClientCN, Organization: []string{MastersGroup}, Usage: pki.ClientAuth})
	cert("front-proxy-client", "front-proxy-client", front, pki.LeafRequest{CommonName: FrontProxyClientCN, Usage: pki.ClientAuth})
	cert("controller-manager", "controller-manager", kube, pki.LeafRequest{CommonName: ControllerManagerCN, Usage: pki.ClientAuth})
	cert("scheduler", "scheduler", kube, pki.LeafRequest{CommonName: SchedulerCN, Usage: pki.ClientAuth})
	cert("admin", "admin", kube, pki.LeafRequest{CommonName: AdminCN, Organization: []string{MastersGroup}, Usage: pki.ClientAuth})
	// Control-plane kubelets get their client certificate directly; only
	// workers go through TLS bootstrap.
	cert("kubelet-client", "kubelet-client", kube, pki.LeafRequest{CommonName: NodeUser(in.Facts.Hostname), Organization: []string{NodesGroup}, Usage: pki.ClientAuth})

	etcdServing := pki.LeafRequest{Usage: pki.ServerAuth, DNSNames: []string{in.Facts.Hostname, "localhost"}, IPAddresses: []net.IP{ip(in.Facts.Address), net.IPv4(127, 0, 0, 1).To4()}}
	var clientCAs []*pki.Keyset
	for _, ec := range in.Config.EtcdClusters {
		clients, err := in.keyset(pki.EtcdClientsCA(ec.Name))
		if err != nil {
			return nil, err
		}
		peers, err := in.keyset(pki.EtcdPeersCA(ec.Name))
		if err != nil {
			return nil, err
		}
		clientCAs = append(clientCAs, clients)
		member, err := MemberName(in.Config, &ec)
		if err != nil {
			return nil, err
		}
		dir := etcdPKI(ec.Name)
		list = append(list,
			in.bundle("pki/etcd-"+ec.Name+"-clients-ca", path.Join(dir, "ca.crt"), etcdClientTrust(in, ec.Name, clients)...),
			in.bundle("pki/etcd-"+ec.Name+"-peers-ca", path.Join(dir, "peer-ca.crt"), peers))
		server := etcdServing
		server.CommonName = "etcd-" + ec.Name + "-" + member
		peer := etcdServing
		peer.CommonName = server.CommonName
		peer.Usage = pki.ServerAuth | pki.ClientAuth
		list = append(list,
			&tasks.Cert{TaskName: "certs/etcd-" + ec.Name + "-server", TaskPhase: tasks.PhaseFiles, Root: in.Root, CertPath: path.Join(dir, "server.crt"), KeyPath: path.Join(dir, "server.key"), CA: clients, Request: server, Now: in.Now},
			&tasks.Cert{TaskName: "certs/etcd-" + ec.Name + "-peer", TaskPhase: tasks.PhaseFiles, Root: in.Root, CertPath: path.Join(dir, "peer.crt"), KeyPath: path.Join(dir, "peer.key"), CA: peers, Request: peer, Now: in.Now})
		cert("apiserver-etcd-client-"+ec.Name, "apiserver-etcd-client-"+ec.Name, clients, pki.LeafRequest{CommonName: "kube-apiserver-etcd-client", Usage: pki.ClientAuth})
	}
	if len(clientCAs) > 0 {
		// The apiserver has one etcd TLS config for all its etcd servers,
		// so it trusts the serving certificates of every etcd cluster.
		list = append(list, in.bundle("pki/apiserver-etcd-ca-bundle", APIServerEtcdCA, clientCAs...))
	}
	return list, nil
}

// APIServerEtcdCA verifies every etcd cluster's serving certificate.
var APIServerEtcdCA = path.Join(PKIDir, "etcd", "apiserver-etcd-ca.crt")

// etcdClientTrust is the client CA bundle of one etcd cluster. The
// apiserver presents one client certificate to all its etcd servers (it has
// a single etcd TLS config), issued by the main cluster's clients CA; so the
// other clusters trust that CA besides their own. No Kubernetes CA is ever
// in an etcd trust bundle.
func etcdClientTrust(in *Input, name string, own *pki.Keyset) []*pki.Keyset {
	main := MainEtcd(in.Config)
	if main == nil || main.Name == name {
		return []*pki.Keyset{own}
	}
	if mainCA, ok := in.Keysets[pki.EtcdClientsCA(main.Name)]; ok {
		return []*pki.Keyset{own, mainCA}
	}
	return []*pki.Keyset{own}
}

// bundle writes the trust bundle of keysets; a plan names the CAs rather
// than printing their PEM.
func (in *Input) bundle(name, p string, keysets ...*pki.Keyset) tasks.Task {
	var summary []string
	for _, ks := range keysets {
		for _, it := range []*pki.Item{ks.Primary, ks.Next} {
			if it != nil && it.Certificate != nil {
				summary = append(summary, "CA "+ks.Name+": "+it.Certificate.Subject.String())
			}
		}
	}
	return in.summarized(in.file(name, p, 0o644, tasks.BundlePEM(keysets...)), summary...)
}

func (in *Input) summarized(f *tasks.File, summary ...string) *tasks.File {
	f.Summary = summary
	return f
}

// EtcdClientPair is the client certificate and key issued for etcd
// cluster name (the apiserver uses the main cluster's).
func EtcdClientPair(name string) (string, string) {
	return pkiPair("apiserver-etcd-client-" + name)
}

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// apiServerDNS are the names of the apiserver's serving certificate.
func apiServerDNS(in *Input) []string {
	domain := in.Config.ClusterDNSDomain
	if domain == "" {
		domain = "cluster.local"
	}
	names := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + domain, "localhost", in.Facts.Hostname}
	for _, n := range in.Config.APIServerNames {
		if _, err := netip.ParseAddr(n); err != nil && n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// apiServerIPs are the addresses of the apiserver's serving certificate:
// the kubernetes Service IP, the machine, loopback and every address in
// APIServerNames (the load balancer's among them).
func apiServerIPs(in *Input) []net.IP {
	var addrs []netip.Addr
	addOne := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	addOne(in.Config.KubernetesServiceIP)
	addOne(in.Facts.Address.String())
	addOne("127.0.0.1")
	for _, n := range in.Config.APIServerNames {
		addOne(n)
	}
	out := make([]net.IP, len(addrs))
	for i, a := range addrs {
		out[i] = ip(a)
	}
	return out
}
