package images

import (
	"context"
	"os"
)

// PushAll verifies every image before it pushes any, so one damaged image
// among several leaves the registry as it was, then pushes them in order.
func PushAll(ctx context.Context, registry string, srcs []Source, progress Progress) ([]Result, error) {
	for _, s := range srcs {
		if err := s.Verify(); err != nil {
			return nil, err
		}
	}
	var out []Result
	for _, s := range srcs {
		r, err := Push(ctx, registry, s, progress)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// LoadTarballs reads the images of every tarball (see ReadTarball), then
// pushes them all (see PushAll).
func LoadTarballs(ctx context.Context, registry string, paths []string, progress Progress) ([]Result, error) {
	tmp, err := os.MkdirTemp("", "hull-image-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var srcs []Source
	for _, p := range paths {
		s, err := ReadTarball(p, tmp)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, s...)
	}
	return PushAll(ctx, registry, srcs, progress)
}
