// Command hull creates, upgrades and repairs Kubernetes clusters.
package main

import (
	"os"

	"github.com/hullproject/hull/cloudup/local/sandbox"
	"github.com/hullproject/hull/pkg/commands"

	// The clouds hull serves register their drivers.
	_ "github.com/hullproject/hull/cloudup/aws"
	_ "github.com/hullproject/hull/cloudup/local"
)

func main() {
	// A local-cloud machine's init is this binary re-executed; it never returns.
	sandbox.MaybeRunInit()
	os.Exit(commands.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
