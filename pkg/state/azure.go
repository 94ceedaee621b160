package state

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
)

// azureBackend uses Azure Blob's native access conditions (If-Match: ETAG,
// If-None-Match: *), so the service decides atomically. Generation is the
// ETag.
//
// Not exercised by the test suite (there is no Azure endpoint here); it
// uses only documented gocloud As hooks and the SDK's container client.
type azureBackend struct {
	bucket    *blob.Bucket
	container *container.Client
}

// openAzure opens azblob://CONTAINER with gocloud's azureblob parameters
// and the AZURE_STORAGE_* environment.
func openAzure(ctx context.Context, u *url.URL) (*blob.Bucket, backend, error) {
	bucket, err := (&azureblob.URLOpener{}).OpenBucketURL(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	var cc *container.Client
	if !bucket.As(&cc) {
		bucket.Close()
		return nil, nil, errors.New("azureblob did not expose its container client")
	}
	return bucket, &azureBackend{bucket: bucket, container: cc}, nil
}

func azureConditions(pre Precondition) *azblobblob.AccessConditions {
	var mac azblobblob.ModifiedAccessConditions
	switch pre.kind {
	case preMustNotExist:
		any := azcore.ETagAny
		mac.IfNoneMatch = &any
	case preMatch:
		etag := azcore.ETag(pre.gen)
		mac.IfMatch = &etag
	default:
		return nil
	}
	return &azblobblob.AccessConditions{ModifiedAccessConditions: &mac}
}

func azureErr(err error, key string, pre Precondition) error {
	switch {
	case bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists):
		if pre.kind == preMustNotExist {
			return existsConflict(key)
		}
		return changedConflict(key)
	case bloberror.HasCode(err, bloberror.BlobNotFound):
		if pre.kind == preMatch {
			return changedConflict(key)
		}
		return ErrNotFound
	}
	return err
}

func (b *azureBackend) get(ctx context.Context, key string) ([]byte, Generation, error) {
	r, err := b.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	var resp azblobblob.DownloadStreamResponse
	if !r.As(&resp) {
		return nil, "", errors.New("azureblob did not expose its download response")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	var gen Generation
	if resp.ETag != nil {
		gen = Generation(*resp.ETag)
	}
	return data, gen, nil
}

// put uses the SDK directly because the new ETag is only in the upload
// response; gocloud's writer discards it.
func (b *azureBackend) put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	ct := "application/octet-stream"
	resp, err := b.container.NewBlockBlobClient(key).Upload(ctx,
		streaming.NopCloser(bytes.NewReader(data)),
		&blockblob.UploadOptions{
			HTTPHeaders:      &azblobblob.HTTPHeaders{BlobContentType: &ct},
			AccessConditions: azureConditions(pre),
		})
	if err != nil {
		return "", azureErr(err, key, pre)
	}
	if resp.ETag == nil {
		return "", errors.New("upload response has no ETag")
	}
	return Generation(*resp.ETag), nil
}

func (b *azureBackend) del(ctx context.Context, key string, pre Precondition) error {
	_, err := b.container.NewBlobClient(key).Delete(ctx, &azblobblob.DeleteOptions{
		AccessConditions: azureConditions(pre),
	})
	if err != nil {
		return azureErr(err, key, pre)
	}
	return nil
}

func (b *azureBackend) newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	w, err := b.bucket.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		BeforeWrite: func(as func(any) bool) error {
			var opts *azblob.UploadStreamOptions
			if !as(&opts) {
				return errors.New("azureblob did not expose its upload options")
			}
			opts.AccessConditions = azureConditions(pre)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &azureWriter{w: w, key: key, pre: pre}, nil
}

type azureWriter struct {
	w   *blob.Writer
	key string
	pre Precondition
}

func (w *azureWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *azureWriter) Close() error {
	if err := w.w.Close(); err != nil {
		return azureErr(err, w.key, w.pre)
	}
	return nil
}

func (b *azureBackend) listGeneration(obj *blob.ListObject) Generation {
	var item container.BlobItem
	if obj.As(&item) && item.Properties != nil && item.Properties.ETag != nil {
		return Generation(*item.Properties.ETag)
	}
	return ""
}

func (b *azureBackend) close() error { return b.bucket.Close() }
