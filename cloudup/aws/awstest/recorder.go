package awstest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// Recorder is a reverse proxy in front of any AWS endpoint (moto, say)
// that logs each call as the emulator does, so a test can count the calls
// an implementation without a request log was sent.
type Recorder struct {
	proxy *httputil.ReverseProxy

	mu  sync.Mutex
	log []Request
}

// NewRecorder proxies to the endpoint (scheme://host:port).
func NewRecorder(endpoint string) (*Recorder, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	return &Recorder{proxy: httputil.NewSingleHostReverseProxy(u)}, nil
}

// ServeHTTP forwards one call and logs it with the answer's status and
// error code.
func (rc *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec, _, err := readRequest(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.Time = time.Now().UTC()
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rc.proxy.ServeHTTP(sw, r)
	rec.Status = sw.status
	if m := errorCodeRE.FindSubmatch(sw.errBody.Bytes()); m != nil {
		rec.ErrorCode = string(m[1])
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.log = append(rc.log, rec)
}

// Requests returns a copy of the request log.
func (rc *Recorder) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.log...)
}

// ResetRequests clears the request log.
func (rc *Recorder) ResetRequests() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.log = nil
}

// errorCodeRE finds the code in every protocol's XML error body.
var errorCodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// statusWriter keeps the status and, for an error, the body (small XML).
type statusWriter struct {
	http.ResponseWriter
	status  int
	errBody bytes.Buffer
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status >= http.StatusBadRequest && w.errBody.Len() < 64<<10 {
		w.errBody.Write(b)
	}
	return w.ResponseWriter.Write(b)
}
