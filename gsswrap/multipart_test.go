package gsswrap

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

const soapType = "application/soap+xml;charset=UTF-8"

func TestSealOpen(t *testing.T) {
	ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
	msg := []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)
	body, err := Seal(ini, soapType, msg)
	if err != nil {
		t.Fatal(err)
	}
	// The framing, with the binary part (signature length, signature, ciphertext) masked, is a golden file:
	// the layout pywinrm and Windows use, byte for byte.
	i := bytes.Index(body, []byte("application/octet-stream\r\n")) + len("application/octet-stream\r\n")
	j := bytes.LastIndex(body, []byte("--Encrypted Boundary--"))
	masked := string(body[:i]) + "<60-byte signature, 4-byte length before it, then the ciphertext>" + string(body[j:])
	golden := filepath.Join("testdata", "sealed.golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(masked), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if masked != string(want) {
		t.Fatalf("framing:\n%q\nwant\n%q", masked, want)
	}
	if got := body[i : i+4]; !bytes.Equal(got, []byte{60, 0, 0, 0}) {
		t.Fatalf("signature length % x, want 60 little-endian", got)
	}
	if !IsSealed(ContentType) || IsSealed(soapType) {
		t.Fatal("IsSealed")
	}
	got, typ, err := Open(acc, ContentType, body)
	if err != nil || !bytes.Equal(got, msg) || typ != soapType {
		t.Fatalf("Open = %q, %q, %v", got, typ, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
	good, err := Seal(ini, soapType, []byte("<s:Envelope/>"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		want              string
	}{
		{"plain SOAP", soapType, []byte("<s:Envelope/>"), "not multipart/encrypted"},
		{"SPNEGO protocol", strings.Replace(ContentType, "Kerberos", "SPNEGO", 1), good, "not multipart/encrypted"},
		{"no boundary", `multipart/encrypted;protocol="` + Protocol + `"`, good, "no boundary"},
		{"wrong length", ContentType, regexp.MustCompile(`Length=\d+`).ReplaceAll(good, []byte("Length=3")), "announced 3"},
		{"cut inside the closing boundary", ContentType, good[:len(good)-8], "integrity verification failed"},
		{"cut inside the ciphertext", ContentType, good[:len(good)-len("--Encrypted Boundary--\r\n")-1], "integrity verification failed"},
		{"huge signature length", ContentType, bytes.Replace(good, []byte("octet-stream\r\n<"), []byte("octet-stream\r\n\xff"), 1), "exceeds"},
		{"empty", ContentType, nil, "boundary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Open(acc, tc.contentType, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOpenExchangeBoundary: Exchange's /PowerShell writes its delimiters "-- Encrypted Boundary", with a
// space after the dashes (jborean93/pypsrp encryption.py reads it for that reason); they open, as do a tab
// and a body without its closing delimiter (pypsrp removes it "if it exists"). SealAsExchange writes them.
func TestOpenExchangeBoundary(t *testing.T) {
	ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
	msg := []byte("<s:Envelope><s:Body>exchange</s:Body></s:Envelope>")
	seal := func(f func(*Context, string, []byte) ([]byte, error)) []byte {
		t.Helper()
		b, err := f(ini, soapType, msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	exchange := seal(SealAsExchange)
	if !bytes.HasPrefix(exchange, []byte("-- Encrypted Boundary\r\n")) || !bytes.HasSuffix(exchange, []byte("-- Encrypted Boundary--\r\n")) ||
		bytes.Count(exchange, []byte("-- Encrypted Boundary\r\n")) != 2 {
		t.Fatalf("SealAsExchange framing: %.120q … %q", exchange, exchange[len(exchange)-30:])
	}
	tab := seal(Seal)
	tab = bytes.Replace(tab, []byte("--Encrypted Boundary\r\n\tContent-Type: application/octet"), []byte("--\tEncrypted Boundary\r\n\tContent-Type: application/octet"), 1)
	noClosing := seal(Seal)
	noClosing = noClosing[:len(noClosing)-len("--Encrypted Boundary--\r\n")]
	for _, tc := range []struct {
		name string
		body []byte
	}{{"space", exchange}, {"tab", tab}, {"no closing delimiter", noClosing}} { // in the order sealed
		got, typ, err := Open(acc, ContentType, tc.body)
		if err != nil || !bytes.Equal(got, msg) || typ != soapType {
			t.Errorf("%s: Open = %q, %q, %v", tc.name, got, typ, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	ini, _ := pair(&testing.T{}, etypeID.AES256_CTS_HMAC_SHA1_96, true)
	good, _ := Seal(ini, soapType, []byte("<s:Envelope/>"))
	f.Add(good)
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\tOriginalContent: type=x;Length=1\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x00\x00\x00\x00--Encrypted Boundary--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
		if msg, _, err := Open(acc, ContentType, body); err == nil && len(msg) > len(body) {
			t.Fatalf("opened %d bytes from a %d-byte body", len(msg), len(body))
		}
	})
}
