package aliyunsms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
)

// PercentEncode encodes s as Alibaba Cloud's RPC signature requires: RFC
// 3986 unreserved characters (A-Z a-z 0-9 - _ . ~) stay, every other byte
// of the UTF-8 text becomes %XX with upper-case hex. So a space is %20
// (not +), * is %2A and ~ stays ~, the three places where form encoding
// differs.
func PercentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) * 3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// CanonicalQuery returns the canonicalized query string of params: the
// parameters (without Signature) sorted by name, each name=value
// percent-encoded, joined with &.
func CanonicalQuery(params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(PercentEncode(k))
		b.WriteByte('=')
		b.WriteString(PercentEncode(params[k]))
	}
	return b.String()
}

// StringToSign returns HTTPMethod & percentEncode("/") &
// percentEncode(canonicalized query), the text the v1 (HMAC-SHA1) RPC
// signature covers.
func StringToSign(method string, params map[string]string) string {
	return method + "&" + PercentEncode("/") + "&" + PercentEncode(CanonicalQuery(params))
}

// Sign returns the Signature parameter for an RPC request:
// base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).
func Sign(method string, params map[string]string, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(StringToSign(method, params)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
