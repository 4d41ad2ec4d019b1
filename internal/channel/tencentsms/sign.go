package tencentsms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// TC3Algorithm names Tencent Cloud's API 3.0 signature method.
const TC3Algorithm = "TC3-HMAC-SHA256"

// SignedHeaders are the headers the signature covers, the two the
// documentation requires.
const SignedHeaders = "content-type;host"

// TC3Request is what a TC3-HMAC-SHA256 signature covers for a POST to "/"
// with no query string, the form every API 3.0 JSON call takes.
type TC3Request struct {
	// Service is the product ("sms", "cvm"), the first label of Host.
	Service string
	// Host is the Host header, e.g. sms.tencentcloudapi.com.
	Host string
	// ContentType is the Content-Type header exactly as sent.
	ContentType string
	// Payload is the request body exactly as sent.
	Payload []byte
	// Timestamp is X-TC-Timestamp (Unix seconds); its UTC date scopes the
	// credential.
	Timestamp int64
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// date returns the UTC date of the timestamp, which the documentation
// warns must not be taken in the local time zone.
func (r TC3Request) date() string {
	return time.Unix(r.Timestamp, 0).UTC().Format("2006-01-02")
}

// CredentialScope returns Date/service/tc3_request.
func (r TC3Request) CredentialScope() string {
	return r.date() + "/" + r.Service + "/tc3_request"
}

// CanonicalRequest returns step 1 of the signature: method, URI, query,
// canonical headers, signed headers and the payload's SHA-256, one per
// line.
func (r TC3Request) CanonicalRequest() string {
	return "POST\n/\n\n" +
		"content-type:" + r.ContentType + "\nhost:" + r.Host + "\n\n" +
		SignedHeaders + "\n" + sha256Hex(r.Payload)
}

// StringToSign returns step 2: algorithm, timestamp, credential scope and
// the canonical request's SHA-256.
func (r TC3Request) StringToSign() string {
	return TC3Algorithm + "\n" + strconv.FormatInt(r.Timestamp, 10) + "\n" + r.CredentialScope() + "\n" +
		sha256Hex([]byte(r.CanonicalRequest()))
}

// Signature returns step 3: the hex HMAC-SHA256 of the string to sign
// under the key derived from secretKey, the date and the service.
func (r TC3Request) Signature(secretKey string) string {
	k := hmacSHA256([]byte("TC3"+secretKey), r.date())
	k = hmacSHA256(k, r.Service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, r.StringToSign()))
}

// Authorization returns step 4, the Authorization header.
func (r TC3Request) Authorization(secretID, secretKey string) string {
	return TC3Algorithm + " Credential=" + secretID + "/" + r.CredentialScope() +
		", SignedHeaders=" + SignedHeaders + ", Signature=" + r.Signature(secretKey)
}
