package terraform_test

// The aws cloud registers its driver, which spec completion and the model
// go through.
import _ "github.com/hullproject/hull/cloudup/aws"
