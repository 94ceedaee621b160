// Command nodeup turns a machine into a node of its hull cluster; see
// nodeup/bootstrap.
package main

import (
	"os"

	"github.com/hullproject/hull/nodeup/bootstrap"

	// The clouds nodeup runs on register their behaviour.
	_ "github.com/hullproject/hull/nodeup/awsroutes"
	_ "github.com/hullproject/hull/nodeup/localnode"
)

func main() {
	os.Exit(bootstrap.Main(os.Args[1:], os.Stdout, os.Stderr))
}
