package tencentsms_test

import (
	"testing"

	"github.com/herald-notify/herald/internal/channel/tencentsms"
)

// The worked example of Tencent Cloud's "Signature v3" documentation: a
// CVM DescribeInstances call at X-TC-Timestamp 1551113065 with SecretKey
// Gu5t9xGARNpq86cd98joQYCN3EXAMPLE. Every intermediate value below is the
// one the document publishes.
func TestTC3DocExample(t *testing.T) {
	t.Parallel()
	r := tencentsms.TC3Request{
		Service:     "cvm",
		Host:        "cvm.tencentcloudapi.com",
		ContentType: "application/json; charset=utf-8",
		Payload:     []byte(`{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`),
		Timestamp:   1551113065,
	}
	const (
		secretID      = "AKID**********************0123456789EXAMPLE"
		secretKey     = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
		wantCanonical = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
		wantSTS       = "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
		wantSignature = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
		wantAuth      = "TC3-HMAC-SHA256 Credential=AKID**********************0123456789EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
	)
	if got := r.CredentialScope(); got != "2019-02-25/cvm/tc3_request" {
		t.Errorf("CredentialScope = %q (the UTC date, not UTC+8's 2019-02-26)", got)
	}
	if got := r.CanonicalRequest(); got != wantCanonical {
		t.Errorf("CanonicalRequest =\n%s\nwant\n%s", got, wantCanonical)
	}
	if got := r.StringToSign(); got != wantSTS {
		t.Errorf("StringToSign =\n%s\nwant\n%s", got, wantSTS)
	}
	if got := r.Signature(secretKey); got != wantSignature {
		t.Errorf("Signature = %s, want the documented %s", got, wantSignature)
	}
	if got := r.Authorization(secretID, secretKey); got != wantAuth {
		t.Errorf("Authorization =\n%s\nwant\n%s", got, wantAuth)
	}
}
