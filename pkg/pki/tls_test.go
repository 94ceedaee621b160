package pki

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMutualTLS runs real handshakes: an apiserver-like server with a serving
// certificate from kubernetes-ca requires client certificates from the CA it
// is given; a kubelet-like client presents one issued by kubernetes-ca.
func TestMutualTLS(t *testing.T) {
	kubeCA := mustCA(t, "kubernetes-ca")
	etcdCA := mustCA(t, "etcd-clients-ca-main")
	serving := mustLeaf(t, kubeCA, LeafRequest{CommonName: "kube-apiserver", DNSNames: []string{"kubernetes.default.svc"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, Usage: ServerAuth})
	kubelet := mustLeaf(t, kubeCA, LeafRequest{CommonName: "system:node:ip-1", Organization: []string{"system:nodes"}, Usage: ClientAuth})
	etcdClient := mustLeaf(t, etcdCA, LeafRequest{CommonName: "kube-apiserver-etcd-client", Usage: ClientAuth})
	serverAsClient := mustLeaf(t, kubeCA, LeafRequest{CommonName: "not-a-client", DNSNames: []string{"x"}, Usage: ServerAuth})

	tests := []struct {
		desc      string
		roots     *Keyset // what the client trusts for the server
		clientCAs *Keyset // what the server trusts for clients
		client    *Item
		wantOK    bool
		wantErr   string // in the failing side's error
	}{
		{"client from the trusted CA", kubeCA, kubeCA, kubelet, true, ""},
		{"client from another CA", kubeCA, kubeCA, etcdClient, false, "unknown authority"},
		{"etcd client against etcd CA", kubeCA, etcdCA, etcdClient, true, ""},
		{"kubelet against etcd CA", kubeCA, etcdCA, kubelet, false, "unknown authority"},
		{"serving-only certificate used as a client", kubeCA, kubeCA, serverAsClient, false, "incompatible key usage"},
		{"client does not trust the server's CA", etcdCA, kubeCA, kubelet, false, "unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			serverErr, peerCN, clientErr := handshake(t, tt.roots, serving, tt.clientCAs, tt.client)
			if tt.wantOK {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("handshake failed: server: %v; client: %v", serverErr, clientErr)
				}
				if want := tt.client.Certificate.Subject.CommonName; peerCN != want {
					t.Errorf("server saw client %q, want %q", peerCN, want)
				}
				return
			}
			if serverErr == nil || clientErr == nil {
				t.Fatalf("handshake succeeded on one side, want both to fail: server: %v; client: %v", serverErr, clientErr)
			}
			if !strings.Contains(serverErr.Error(), tt.wantErr) && !strings.Contains(clientErr.Error(), tt.wantErr) {
				t.Errorf("errors do not mention %q: server: %v; client: %v", tt.wantErr, serverErr, clientErr)
			}
		})
	}
}

func mustLeaf(t *testing.T, ca *Keyset, req LeafRequest) *Item {
	t.Helper()
	leaf, err := IssueLeaf(ca, req, testNow)
	if err != nil {
		t.Fatalf("IssueLeaf(%s, %q): %v", ca.Name, req.CommonName, err)
	}
	return leaf
}

// handshake connects a client to a server over net.Pipe and exchanges one
// byte. It returns the server's error, the client CN the server saw, and the
// client's error.
func handshake(t *testing.T, roots *Keyset, serving *Item, clientCAs *Keyset, client *Item) (serverErr error, peerCN string, clientErr error) {
	t.Helper()
	serverCert, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := client.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return testNow }
	sconn, cconn := net.Pipe()
	defer cconn.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sconn.Close()
		srv := tls.Server(sconn, &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    clientCAs.CertPool(),
			MinVersion:   tls.VersionTLS12,
			Time:         clock,
		})
		if serverErr = srv.Handshake(); serverErr != nil {
			return
		}
		peerCN = srv.ConnectionState().PeerCertificates[0].Subject.CommonName
		_, serverErr = srv.Write([]byte{1})
	}()
	cli := tls.Client(cconn, &tls.Config{
		// Always present the certificate, even when the server's list of
		// acceptable CAs does not name its issuer (crypto/tls would then send
		// none), so that the server's own verification is what is tested.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &clientCert, nil },
		RootCAs:              roots.CertPool(),
		ServerName:           "kubernetes.default.svc",
		MinVersion:           tls.VersionTLS12,
		Time:                 clock,
	})
	// With TLS 1.3 the client finishes its handshake before the server has
	// checked the client certificate; the rejection arrives on the first read.
	if clientErr = cli.Handshake(); clientErr == nil {
		_, clientErr = cli.Read(make([]byte, 1))
	}
	cconn.Close()
	<-done
	return serverErr, peerCN, clientErr
}
