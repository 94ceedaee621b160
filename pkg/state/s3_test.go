package state_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/hullproject/hull/pkg/state"
	"github.com/hullproject/hull/pkg/state/statetest"
)

// TestS3EndpointFromEnvironment: the standard AWS_ENDPOINT_URL_S3 and
// AWS_REGION variables are enough to reach an S3-compatible server, with
// path-style addressing switched on automatically.
func TestS3EndpointFromEnvironment(t *testing.T) {
	raw := statetest.StartS3(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", u.Query().Get("endpoint"))
	t.Setenv("AWS_REGION", "us-east-1")

	s := openStore(t, "s3://"+statetest.Bucket)
	gen := mustPut(t, s, "demo/config", "via env", state.MustNotExist())
	wantContent(t, s, "demo/config", "via env")
	_, err = s.Put(context.Background(), "demo/config", []byte("x"), state.MustNotExist())
	wantConflict(t, err, "demo/config")
	mustPut(t, s, "demo/config", "v2", state.MatchGeneration(gen))

	// The same object through the URL-parameter form.
	wantContent(t, openStore(t, raw), "demo/config", "v2")
}

func TestS3BadParameter(t *testing.T) {
	_, err := state.Open(context.Background(), "s3://bucket?region=us-east-1&no_such_param=1")
	if err == nil {
		t.Fatal("Open accepted an unknown S3 URL parameter")
	}
}
