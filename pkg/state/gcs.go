package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
)

// gcsBackend uses GCS's native preconditions (ifGenerationMatch, with 0
// meaning "does not exist"), so the server decides atomically. Generation
// is the object's generation number.
//
// Not exercised by the test suite (there is no GCS server here); it uses
// only documented gocloud As hooks.
type gcsBackend struct {
	bucket *blob.Bucket
}

// openGCS opens gs://BUCKET with Application Default Credentials.
func openGCS(ctx context.Context, u *url.URL) (*blob.Bucket, backend, error) {
	bucket, err := (&gcsblob.URLOpener{}).OpenBucketURL(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	return bucket, &gcsBackend{bucket: bucket}, nil
}

func (b *gcsBackend) get(ctx context.Context, key string) ([]byte, Generation, error) {
	r, err := b.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	var sr *storage.Reader
	if !r.As(&sr) {
		return nil, "", errors.New("gcsblob did not expose its reader")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	return data, Generation(strconv.FormatInt(sr.Attrs.Generation, 10)), nil
}

func gcsConditions(pre Precondition) (storage.Conditions, bool, error) {
	switch pre.kind {
	case preMustNotExist:
		return storage.Conditions{DoesNotExist: true}, true, nil
	case preMatch:
		n, err := strconv.ParseInt(string(pre.gen), 10, 64)
		if err != nil {
			return storage.Conditions{}, false, fmt.Errorf("generation %q is not a GCS generation", pre.gen)
		}
		return storage.Conditions{GenerationMatch: n}, true, nil
	}
	return storage.Conditions{}, false, nil
}

func (b *gcsBackend) put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	w, err := b.newWriter(ctx, key, pre)
	if err != nil {
		return "", err
	}
	gw := w.(*gcsWriter)
	if _, err := gw.Write(data); err != nil {
		_ = gw.Close()
		return "", err
	}
	if err := gw.Close(); err != nil {
		return "", err
	}
	// The storage.Writer's Attrs come from the upload response, so this is
	// the generation of exactly what we wrote.
	return Generation(strconv.FormatInt(gw.sw.Attrs().Generation, 10)), nil
}

func (b *gcsBackend) del(ctx context.Context, key string, pre Precondition) error {
	cond, ok, err := gcsConditions(pre)
	if err != nil {
		return err
	}
	return b.bucket.DeleteWithOptions(ctx, key, &blob.DeleteOptions{
		BeforeDelete: func(as func(any) bool) error {
			var oh **storage.ObjectHandle
			if !as(&oh) {
				return errors.New("gcsblob did not expose its object handle")
			}
			if ok {
				*oh = (*oh).If(cond)
			}
			return nil
		},
	})
}

func (b *gcsBackend) newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	cond, ok, err := gcsConditions(pre)
	if err != nil {
		return nil, err
	}
	gw := &gcsWriter{}
	w, err := b.bucket.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		BeforeWrite: func(as func(any) bool) error {
			// gcsblob wants the handle first, then the writer.
			var oh **storage.ObjectHandle
			if !as(&oh) {
				return errors.New("gcsblob did not expose its object handle")
			}
			if ok {
				*oh = (*oh).If(cond)
			}
			if !as(&gw.sw) {
				return errors.New("gcsblob did not expose its writer")
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	gw.w = w
	return gw, nil
}

type gcsWriter struct {
	w  *blob.Writer
	sw *storage.Writer
}

func (w *gcsWriter) Write(p []byte) (int, error) { return w.w.Write(p) }
func (w *gcsWriter) Close() error                { return w.w.Close() }

func (b *gcsBackend) listGeneration(obj *blob.ListObject) Generation {
	var attrs storage.ObjectAttrs
	if obj.As(&attrs) {
		return Generation(strconv.FormatInt(attrs.Generation, 10))
	}
	return ""
}

func (b *gcsBackend) close() error { return b.bucket.Close() }
