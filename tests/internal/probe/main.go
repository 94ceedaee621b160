// Command probe is the workload of hull's cluster e2e tests. As a server
// (no arguments) it answers HTTP on :8080 with its hostname; with -resolve
// NAME it prints the addresses NAME resolves to through the pod's DNS; with
// -get URL it prints the body of an HTTP GET.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	resolve := flag.String("resolve", "", "name to resolve")
	get := flag.String("get", "", "URL to fetch")
	flag.Parse()
	switch {
	case *resolve != "":
		addrs, err := net.LookupHost(*resolve)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Join(addrs, " "))
	case *get != "":
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(*get)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		io.Copy(os.Stdout, resp.Body)
	default:
		host, _ := os.Hostname()
		http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, host) })
		if err := http.ListenAndServe(":8080", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
