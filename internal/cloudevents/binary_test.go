package cloudevents

import "testing"

func TestHeaderValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"plain", "plain", true},
		{"  padded\t", "padded", true},
		// The example of the HTTP binding, section 3.1.3.2.
		{"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀", true},
		{"lower%e2%82%ac", "lower€", true},
		{"unneeded%41%42", "unneededAB", true},
		{"100%25", "100%", true},
		{`"quoted value"`, "quoted value", true},
		{`"with \"escapes\" and \\"`, `with "escapes" and \`, true},
		{`"quoted%20then%20decoded"`, "quoted then decoded", true},
		{`a"b`, `a"b`, true},

		{"%", "", false},
		{"%4", "", false},
		{"%zz", "", false},
		{"%C0%A0", "", false}, // overlong encoding of U+0020: MUST be rejected
		{"%ED%A0%80", "", false},
		{"%FF", "", false},
		{"raw\xffbyte", "", false},
		{`"unterminated`, "", false},
		{`"quoted" trailing`, "", false},
	}
	for _, tt := range tests {
		got, err := headerValue(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("headerValue(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
