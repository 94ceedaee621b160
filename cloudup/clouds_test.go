package cloudup

// The clouds hull serves register their drivers, which carry the
// cloud-specific defaults and rules these tests go through.
import (
	_ "github.com/hullproject/hull/cloudup/aws"
	_ "github.com/hullproject/hull/cloudup/local"
)
