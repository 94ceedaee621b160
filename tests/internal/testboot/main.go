// Command testboot is the boot program of hull's e2e test image: it stands in
// for a node by serving health endpoints on the machine's address.
//
// It serves HTTPS on :443 (/readyz, like kube-apiserver, so the API load
// balancer health-checks it) and HTTP on :8080 with /hostname, /userdata,
// /dial?addr=host:port (dial from inside the machine) and /sick (make
// /readyz fail from now on).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	var sick atomic.Bool
	host, _ := os.Hostname()

	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, host) })
	mux.HandleFunc("/userdata", func(w http.ResponseWriter, _ *http.Request) {
		b, err := os.ReadFile(os.Getenv("HULL_USER_DATA"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, _ *http.Request) { sick.Store(true); fmt.Fprintln(w, "sick") })
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 2*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c.Close()
		fmt.Fprintln(w, "ok")
	})

	cert, err := selfSigned(host)
	if err != nil {
		log.Fatal(err)
	}
	tlsSrv := &http.Server{Addr: ":443", Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { log.Fatal(tlsSrv.ListenAndServeTLS("", "")) }()
	log.Printf("testboot %s serving :443 and :8080", host)
	log.Fatal(http.ListenAndServe(":8080", mux))
}

func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{host},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
