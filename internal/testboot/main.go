// Command testboot is the boot program of hull's test images (the local
// cloud's unit tests and the e2e tests): it stands in for a node by
// serving, on the machine's address, what a test asks from inside it.
//
// HTTP on :8080 and HTTPS on :443 (so an API load balancer can
// health-check it like kube-apiserver) serve the same endpoints:
// /healthz and /readyz (200 "ok", 500 while sick), /sick (toggle sick),
// /hostname, /env?name=VAR, /file?path=P, /userdata ($HULL_USER_DATA),
// /dial?addr=host:port (TCP dial from inside; 502 if it fails) and
// /fetch?url=U (GET from inside, returns the body).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	host, _ := os.Hostname()
	cert, err := selfSigned(host)
	if err != nil {
		log.Fatal(err)
	}
	mux := handlers(host)
	plain := &http.Server{Addr: ":8080", Handler: mux}
	secure := &http.Server{Addr: ":443", Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		secure.Shutdown(ctx)
		plain.Shutdown(ctx)
	}()
	go func() {
		if err := secure.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("testboot %s (%s) serving :443 and :8080", host, os.Getenv("HULL_INSTANCE_ID"))
	if err := plain.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func handlers(host string) *http.ServeMux {
	var sick atomic.Bool
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}
	mux.HandleFunc("/healthz", health)
	mux.HandleFunc("/readyz", health)
	mux.HandleFunc("/sick", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, !sick.Load())
		sick.Store(!sick.Load())
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, host) })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	file := func(w http.ResponseWriter, path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	}
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { file(w, r.URL.Query().Get("path")) })
	mux.HandleFunc("/userdata", func(w http.ResponseWriter, _ *http.Request) { file(w, os.Getenv("HULL_USER_DATA")) })
	mux.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 2*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c.Close()
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	return mux
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
