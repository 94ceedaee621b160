// Command nodeup turns a machine into a node of its hull cluster; see
// nodeup/bootstrap.
package main

import (
	"os"

	"github.com/hullproject/hull/nodeup/bootstrap"
)

func main() {
	os.Exit(bootstrap.Main(os.Args[1:], os.Stdout, os.Stderr))
}
