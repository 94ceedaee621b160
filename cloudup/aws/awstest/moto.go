package awstest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hullproject/hull/internal/testproc"
)

// MotoVersion is the moto release the tests are written against
// (the Makefile installs it where it is missing).
const MotoVersion = "5.2.1"

const motoMissing = "moto " + MotoVersion + " (python3 -m moto.server) is not installed (HULL_MOTO_PYTHON names another Python); `make moto` installs it"

// motoServer is `python3 -m moto.server` with one fix. moto 5.2.1 stores
// the user-data of CreateLaunchTemplateVersion undecoded (CreateLaunchTemplate
// decodes it), then fails an assertion with HTTP 500 when an Auto Scaling
// group launches from that version; AWS takes base64 user-data in both
// calls alike (EC2 API reference, RequestLaunchTemplateData.UserData).
const motoServer = `
import sys
from moto.ec2.models.launch_templates import LaunchTemplate
from moto.ec2.utils import parse_user_data

create_version = LaunchTemplate.create_version

def create_version_decoded(self, data, description):
    if isinstance(data.get("UserData"), str):
        data["UserData"] = parse_user_data(data["UserData"])
    return create_version(self, data, description)

LaunchTemplate.create_version = create_version_decoded

from moto.server import main
main(sys.argv[1:])
`

// StartMoto starts moto's server, an independent implementation of the
// AWS APIs, on a free loopback port for the test and returns its endpoint
// URL; the process is killed when the test ends. The Python is
// $HULL_MOTO_PYTHON, else python3. Without it or without moto the test is
// skipped, or fails when HULL_REQUIRE_MOTO=1 (make test sets both).
func StartMoto(t testing.TB) string {
	t.Helper()
	python := os.Getenv("HULL_MOTO_PYTHON")
	if python == "" {
		python = "python3"
	}
	python, err := exec.LookPath(python)
	if err == nil {
		err = exec.Command(python, "-c", "import moto.server").Run()
	}
	if err != nil {
		if os.Getenv("HULL_REQUIRE_MOTO") == "1" {
			t.Fatalf("%s: %v", motoMissing, err)
		}
		t.Skipf("WARNING: skipping: %s: %v", motoMissing, err)
	}
	// moto imports every service's models first, which takes seconds on a
	// busy machine. Should another process take the port before moto binds
	// it, moto exits and the next try takes another.
	addr := testproc.Start(t, testproc.Server{
		Name: "moto",
		Command: func(addr string) *exec.Cmd {
			host, port, _ := net.SplitHostPort(addr)
			return exec.Command(python, "-c", motoServer, "-H", host, "-p", port)
		},
		Ready:   testproc.AnswersHTTP("/moto-api/", true),
		Timeout: time.Minute,
		Tries:   3,
	})
	return "http://" + addr
}
