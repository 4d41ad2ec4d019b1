package cloudevents

import "testing"

func TestCheckURIReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		// The examples of the CloudEvents spec for "source".
		{"https://github.com/cloudevents", true},
		{"mailto:cncf-wg-serverless@lists.cncf.io", true},
		{"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", true},
		{"/cloudevents/spec/pull/123", true},
		{"/sensors/tn-1234567/alerts", true},
		{"1-555-123-4567", true},
		{"herald:api", true},
		{"/mycontext", true},
		{"//example.com/path", true},
		{"https://user:pw@example.com:8443/a/b?q=1&r=%20#frag/?x", true},
		{"http://[2001:db8::1]:80/", true},
		{"./relative:colon-after-slash", true},
		{"?query-only", true},
		{"#fragment-only", true},
		{"a+b.c-d:rest", true},

		{"my source", false},
		{"1-555:123", false},
		{":nothing", false},
		{"/a%zz", false},
		{"/a%2", false},
		{"/bücher", false},
		{"/a#b#c", false},
		{"/a[1]", false},
		{`/a"b`, false},
		{"/a\\b", false},
		{"/a<b>", false},
		{"http://exa mple.com/", false},
		{"http://example.com:80a/", false},
		{"http://[::1/", false},
		{"http://[::1]x/", false},
		{"http://ex^ample.com/", false},
	}
	for _, tt := range tests {
		if err := checkURIReference(tt.in); (err == nil) != tt.ok {
			t.Errorf("checkURIReference(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func TestCheckAbsoluteURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		ok bool
	}{
		{"https://schemas.example.com/order.json", true},
		{"https://schemas.example.com/order.json#/definitions/paid", true},
		{"urn:example:schema:1", true},
		{"/schemas/order.json", false},
		{"order.json", false},
		{"//example.com/order.json", false},
		{"1http://example.com", false},
	}
	for _, tt := range tests {
		if err := checkAbsoluteURI(tt.in); (err == nil) != tt.ok {
			t.Errorf("checkAbsoluteURI(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}
