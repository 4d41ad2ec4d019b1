package aliyunsms_test

import (
	"net/http"
	"testing"

	"github.com/herald-notify/herald/internal/channel/aliyunsms"
)

// The worked example of Alibaba Cloud's SMS documentation ("HTTP protocol
// and signature", help.aliyun.com/document_detail/56189): a SendSms call
// with AccessKeyId testId and AccessKeySecret testSecret, whose published
// StringToSign and Signature are below.
func TestSignSMSDocExample(t *testing.T) {
	t.Parallel()
	params := map[string]string{
		"AccessKeyId":      "testId",
		"Action":           "SendSms",
		"Format":           "XML",
		"OutId":            "123",
		"PhoneNumbers":     "15300000001",
		"RegionId":         "cn-hangzhou",
		"SignName":         "阿里云短信测试专用",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "45e25e9b-0a6f-4070-8c85-2956eda1b466",
		"SignatureVersion": "1.0",
		"TemplateCode":     "SMS_71390007",
		"TemplateParam":    `{"customer":"test"}`,
		"Timestamp":        "2017-07-12T02:42:19Z",
		"Version":          "2017-05-25",
	}
	const (
		wantQuery = "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001&RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B%E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1&SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0&TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D&Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
		wantSTS   = "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
		wantSig   = "zJDF+Lrzhj/ThnlvIToysFRq6t4="
	)
	if got := aliyunsms.CanonicalQuery(params); got != wantQuery {
		t.Errorf("CanonicalQuery =\n%s\nwant\n%s", got, wantQuery)
	}
	if got := aliyunsms.StringToSign(http.MethodGet, params); got != wantSTS {
		t.Errorf("StringToSign =\n%s\nwant\n%s", got, wantSTS)
	}
	if got := aliyunsms.Sign(http.MethodGet, params, "testSecret"); got != wantSig {
		t.Errorf("Sign = %s, want the documented %s", got, wantSig)
	}
	// Signature itself never takes part in the signature.
	params["Signature"] = "ignored"
	if got := aliyunsms.Sign(http.MethodGet, params, "testSecret"); got != wantSig {
		t.Errorf("Sign with a Signature parameter = %s, want %s", got, wantSig)
	}
}

// The examples of Alibaba Cloud's generic RPC signature pages, both with
// AccessKeyId testid and AccessKeySecret testsecret.
func TestSignRPCDocExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{
			// ECS "Request signatures" (DescribeRegions).
			name: "DescribeRegions",
			params: map[string]string{
				"Timestamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
				"Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
				"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
				"SignatureVersion": "1.0",
			},
			want: "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
		{
			// SDK "RPC mechanism" (DescribeDedicatedHosts).
			name: "DescribeDedicatedHosts",
			params: map[string]string{
				"AccessKeyId": "testid", "Action": "DescribeDedicatedHosts", "Format": "JSON",
				"RegionId": "cn-beijing", "SignatureMethod": "HMAC-SHA1",
				"SignatureNonce": "edb2b34af0af9a6d14deaf7c1a5315eb", "SignatureVersion": "1.0",
				"Timestamp": "2023-03-13T08:34:30Z", "Version": "2014-05-26",
			},
			want: "9NaGiOspFP5UPcwX8Iwt2YJXXuk=",
		},
	}
	for _, tt := range tests {
		if got := aliyunsms.Sign(http.MethodGet, tt.params, "testsecret"); got != tt.want {
			t.Errorf("%s: Sign = %s, want the documented %s", tt.name, got, tt.want)
		}
	}
}

func TestPercentEncode(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"a b":        "a%20b",
		"*":          "%2A",
		"~-_.":       "~-_.",
		"/=&+:":      "%2F%3D%26%2B%3A",
		"阿":          "%E9%98%BF",
		"AZaz09":     "AZaz09",
		"{\"k\":1}":  "%7B%22k%22%3A1%7D",
		"100%":       "100%25",
		"line\nnext": "line%0Anext",
	}
	for in, want := range tests {
		if got := aliyunsms.PercentEncode(in); got != want {
			t.Errorf("PercentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
