package state

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// s3Backend uses S3's own conditional writes (If-None-Match: "*" and
// If-Match: ETAG on PutObject, If-Match on DeleteObject), so the server
// decides atomically and no lock is needed. Generation is the ETag.
type s3Backend struct {
	bucket *blob.Bucket
	client *s3.Client
	name   string
}

// openS3 opens s3://BUCKET?region=R&endpoint=URL&use_path_style=true (and
// the other parameters gocloud's s3blob and gocloud.dev/aws accept:
// hostname_immutable, profile, disable_https, request_checksum_calculation,
// ...). The standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...) applies too.
// When a custom endpoint is given and path style is not mentioned, path
// style is switched on: S3-compatible servers (versitygw, MinIO, Ceph)
// rarely serve virtual-hosted bucket names.
func openS3(ctx context.Context, u *url.URL) (*blob.Bucket, backend, error) {
	q := u.Query()
	customEndpoint := q.Get("endpoint") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if customEndpoint && q.Get("use_path_style") == "" && q.Get("s3ForcePathStyle") == "" {
		q.Set("use_path_style", "true")
	}
	u2 := *u
	u2.RawQuery = q.Encode()
	bucket, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, &u2)
	if err != nil {
		return nil, nil, err
	}
	var client *s3.Client
	if !bucket.As(&client) {
		bucket.Close()
		return nil, nil, errors.New("s3blob did not expose its client")
	}
	return bucket, &s3Backend{bucket: bucket, client: client, name: u.Host}, nil
}

// get reads body and ETag from the same GET response, so the generation
// is exactly that of the bytes returned.
func (b *s3Backend) get(ctx context.Context, key string) ([]byte, Generation, error) {
	r, err := b.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	var out s3.GetObjectOutput
	if !r.As(&out) {
		return nil, "", errors.New("s3blob did not expose the GetObject response")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, "", err
	}
	return data, Generation(aws.ToString(out.ETag)), nil
}

// put calls PutObject directly rather than through blob.Writer because the
// new ETag is only in PutObject's response, and reading it back with HEAD
// afterwards could return a later writer's ETag.
func (b *s3Backend) put(ctx context.Context, key string, data []byte, pre Precondition) (Generation, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(b.name),
		Key:           aws.String(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/octet-stream"),
	}
	in.IfMatch, in.IfNoneMatch = s3Conditions(pre)
	out, err := b.client.PutObject(ctx, in)
	if err != nil {
		return "", s3Err(err, key, pre)
	}
	return Generation(aws.ToString(out.ETag)), nil
}

func s3Conditions(pre Precondition) (ifMatch, ifNoneMatch *string) {
	switch pre.kind {
	case preMustNotExist:
		return nil, aws.String("*")
	case preMatch:
		return aws.String(string(pre.gen)), nil
	}
	return nil, nil
}

// s3Err maps S3's answers to a failed condition: 412 PreconditionFailed,
// and 409 ConditionalRequestConflict when two conditional writes race.
func s3Err(err error, key string, pre Precondition) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			if pre.kind == preMustNotExist {
				return existsConflict(key)
			}
			return changedConflict(key)
		case "NoSuchKey", "NotFound":
			if pre.kind == preMatch {
				return changedConflict(key)
			}
			return ErrNotFound
		}
	}
	return err
}

func (b *s3Backend) del(ctx context.Context, key string, pre Precondition) error {
	err := b.bucket.DeleteWithOptions(ctx, key, &blob.DeleteOptions{
		BeforeDelete: func(as func(any) bool) error {
			var in *s3.DeleteObjectInput
			if !as(&in) {
				return errors.New("s3blob did not expose DeleteObjectInput")
			}
			in.IfMatch, _ = s3Conditions(pre)
			return nil
		},
	})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return s3Err(err, key, pre)
		}
		if pre.kind == preMatch && errors.Is(mapErr(err, key), ErrNotFound) {
			return changedConflict(key)
		}
	}
	return err
}

// newWriter streams through s3blob's transfer manager, which sends the
// conditions on PutObject or, for a multipart upload, on
// CompleteMultipartUpload: either way the object appears only when the
// upload completes and only if the condition holds.
func (b *s3Backend) newWriter(ctx context.Context, key string, pre Precondition) (io.WriteCloser, error) {
	w, err := b.bucket.NewWriter(ctx, key, &blob.WriterOptions{
		ContentType: "application/octet-stream",
		BeforeWrite: func(as func(any) bool) error {
			var in *transfermanager.UploadObjectInput
			if !as(&in) {
				return errors.New("s3blob did not expose UploadObjectInput")
			}
			in.IfMatch, in.IfNoneMatch = s3Conditions(pre)
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return &s3Writer{w: w, key: key, pre: pre}, nil
}

type s3Writer struct {
	w   *blob.Writer
	key string
	pre Precondition
}

func (w *s3Writer) Write(p []byte) (int, error) { return w.w.Write(p) }

func (w *s3Writer) Close() error {
	if err := w.w.Close(); err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return s3Err(err, w.key, w.pre)
		}
		return err
	}
	return nil
}

func (b *s3Backend) listGeneration(obj *blob.ListObject) Generation {
	var o types.Object
	if obj.As(&o) {
		return Generation(aws.ToString(o.ETag))
	}
	return ""
}

func (b *s3Backend) close() error { return b.bucket.Close() }
