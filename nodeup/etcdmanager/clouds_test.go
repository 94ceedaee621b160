package etcdmanager

// The local cloud registers its driver, which the model asks for the API endpoint.
import _ "github.com/hullproject/hull/cloudup/local"
