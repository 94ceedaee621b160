package bootstrap

// The clouds nodeup runs on register their behaviour, as cmd/nodeup links them.
import (
	_ "github.com/hullproject/hull/nodeup/awsroutes"
	_ "github.com/hullproject/hull/nodeup/localnode"
)
