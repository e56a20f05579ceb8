package httpapi

import "testing"

func BenchmarkDecodeMessageBody(b *testing.B) {
	body := []byte(`{"author":{"type":"operator","id":"ann"},"text":"Thanks, I will look into your order right away and come back to you shortly."}`)
	lim := limits{text: 16384, name: 256}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		obj, err := parseBody(body, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeMessageBody(obj, lim); err != nil {
			b.Fatal(err)
		}
	}
}
