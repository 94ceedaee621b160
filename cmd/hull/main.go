// Command hull creates, upgrades and repairs Kubernetes clusters.
package main

import (
	"os"

	"github.com/hullproject/hull/pkg/commands"
)

func main() {
	os.Exit(commands.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
