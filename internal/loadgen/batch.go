package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// BatchContentType is the media type of a batch of structured CloudEvents.
const BatchContentType = "application/cloudevents-batch+json"

// DefaultMaxBatch is the most events the waiting and timer benchmarks put
// in one request; the generated configuration raises server.max_batch to
// allow it.
const DefaultMaxBatch = 1000

// ceField is one data field of a batched event: a name and a string value.
type ceField struct{ name, value string }

// appendCloudEvent appends one structured CloudEvent whose data is an
// object of string fields.
func appendCloudEvent(b []byte, id, typ string, fields ...ceField) []byte {
	b = append(b, `{"specversion":"1.0","id":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"source":`...)
	b = strconv.AppendQuote(b, DefaultSource)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, typ)
	b = append(b, `,"datacontenttype":"application/json","data":{`...)
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, f.name)
		b = append(b, ':')
		b = strconv.AppendQuote(b, f.value)
	}
	return append(b, "}}"...)
}

// batchOutcome is the answer to one batch request.
type batchOutcome struct {
	Status  int
	ErrKind string
	Err     string
	// Start and End bracket the HTTP exchange.
	Start, End time.Time
}

func (o batchOutcome) accepted() bool { return o.Status == http.StatusAccepted }

// postBatch posts a JSON array of structured CloudEvents to baseURL's
// /v1/events and classifies the answer like Driver.send.
func postBatch(ctx context.Context, client *http.Client, baseURL, token string, body []byte) batchOutcome {
	var o batchOutcome
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/v1/events", bytes.NewReader(body))
	if err != nil {
		o.ErrKind, o.Err = "request", err.Error()
		return o
	}
	req.Header.Set("Content-Type", BatchContentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	o.Start = time.Now()
	resp, err := client.Do(req)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		o.Status = resp.StatusCode
	}
	o.End = time.Now()
	switch {
	case err != nil:
		o.ErrKind, o.Err = ErrorKind(err), err.Error()
	case o.Status != http.StatusAccepted:
		o.ErrKind = "http_" + strconv.Itoa(o.Status)
		o.Err = strings.TrimSpace(string(answer[:min(len(answer), 300)]))
	}
	return o
}

// countErrors adds an outcome's failure to errs and keeps its first text
// per kind in samples.
func countErrors(errs map[string]int, samples map[string]string, o batchOutcome, n int) {
	if o.ErrKind == "" {
		return
	}
	errs[o.ErrKind] += n
	if _, ok := samples[o.ErrKind]; !ok {
		samples[o.ErrKind] = o.Err
	}
}
