package cloudevents

import (
	"net/http"
	"testing"
)

// The bodies of the benchmarks: what a shop's webhook relay typically
// sends, in the short form and as a structured CloudEvent.
const (
	benchShort      = `{"type":"order.paid","subject":"orders/A-1001","data":{"order":"A-1001","amount":129.90,"currency":"EUR","customer":{"id":"c-77","email":"ana@example.com","name":"Ana Lima"},"items":[{"sku":"SKU-1","qty":2},{"sku":"SKU-2","qty":1}]}}`
	benchStructured = `{"specversion":"1.0","id":"0190a4d2-7c3e-7b61-9a4e-3f0c2d1e5a77","source":"https://shop.example.com/webhooks","type":"com.example.order.paid","subject":"orders/A-1001","time":"2026-01-02T03:04:05.123456Z","datacontenttype":"application/json","tenant":"acme","priority":2,"data":{"order":"A-1001","amount":129.90,"currency":"EUR","customer":{"id":"c-77","email":"ana@example.com","name":"Ana Lima"},"items":[{"sku":"SKU-1","qty":2},{"sku":"SKU-2","qty":1}]}}`
)

func benchmarkDecode(b *testing.B, ct, body string) {
	h := http.Header{"Content-Type": {ct}}
	raw := []byte(body)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(h, raw, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeShort(b *testing.B) { benchmarkDecode(b, "application/json", benchShort) }

func BenchmarkDecodeStructured(b *testing.B) {
	benchmarkDecode(b, "application/cloudevents+json; charset=utf-8", benchStructured)
}

func BenchmarkDecodeBatch(b *testing.B) {
	body := "["
	for i := range 100 {
		if i > 0 {
			body += ","
		}
		body += benchStructured
	}
	benchmarkDecode(b, "application/cloudevents-batch+json", body+"]")
}

func BenchmarkDecodeBinary(b *testing.B) {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Ce-Specversion": {"1.0"},
		"Ce-Id":          {"0190a4d2-7c3e-7b61-9a4e-3f0c2d1e5a77"},
		"Ce-Source":      {"https://shop.example.com/webhooks"},
		"Ce-Type":        {"com.example.order.paid"},
		"Ce-Time":        {"2026-01-02T03:04:05.123456Z"},
	}
	raw := []byte(`{"order":"A-1001","amount":129.90,"currency":"EUR"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(h, raw, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	events, _, err := Decode(http.Header{"Content-Type": {mediaStructured}}, []byte(benchStructured), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(&events[0]); err != nil {
			b.Fatal(err)
		}
	}
}
