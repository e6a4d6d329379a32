package gsswrap

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// BenchmarkSealOpen: sealing a request and opening it, the per-message cost of Kerberos encryption over
// HTTP — a typical WS-Management message (4 KiB) and one at Windows' default MaxEnvelopeSizekb (500 KB).
func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"500KB", 500 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			ini, acc := pair(&testing.T{}, etypeID.AES256_CTS_HMAC_SHA1_96, true)
			msg := bytes.Repeat([]byte("<s:Envelope/>"), size.n/13)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				body, err := Seal(ini, "application/soap+xml;charset=UTF-8", msg)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := Open(acc, ContentType, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
