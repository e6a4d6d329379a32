package wsman

import (
	"testing"
	"time"
)

// FuzzParseRequest: the SOAP request parser never panics, and whatever it accepts has an action.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(envelopeFor(actionCreate, "", `<sh:Shell><sh:InputStreams>stdin</sh:InputStreams></sh:Shell>`)))
	f.Add([]byte(envelopeFor(actionSend, "S1", `<sh:Send><sh:Stream Name="stdin" CommandId="C1" End="true">aGVsbG8=</sh:Stream></sh:Send>`)))
	f.Add([]byte(envelopeFor(actionReceive, "S1", `<sh:Receive><sh:DesiredStream CommandId="C1">stdout stderr</sh:DesiredStream></sh:Receive>`)))
	f.Add([]byte(envelopeFor(actionSignal, "S1", `<sh:Signal CommandId="C1"><sh:Code>`+signalTerminate+`</sh:Code></sh:Signal>`)))
	f.Add([]byte(`<x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseRequest(data)
		if err == nil && r.Header.Action == "" {
			t.Fatal("accepted a request without an action")
		}
		if err == nil {
			_ = r.Header.selector("ShellId")
			_ = r.Header.option("WINRS_CODEPAGE")
			_, _ = parseDuration(r.Header.OperationTimeout)
		}
	})
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", 60 * time.Second, true},
		{"PT60.000S", 60 * time.Second, true},
		{"PT1.5S", 1500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"PT2H", 2 * time.Hour, true},
		{"P0DT1H0M0S", time.Hour, true},
		{"P1D", 24 * time.Hour, true},
		{"60", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"PTS", 0, false},
		{"-PT5S", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// FuzzNTLMAuthenticate: the AUTHENTICATE parser never panics or reads out of bounds, and never verifies
// garbage.
func FuzzNTLMAuthenticate(f *testing.F) {
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Add(append([]byte("NTLMSSP\x00\x03\x00\x00\x00"), make([]byte, 80)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseNTLMAuthenticate(data)
		if err != nil {
			return
		}
		if verifyNTLMv2(a, "pw", []byte("12345678")) && len(a.NTResponse) < 17 {
			t.Fatal("verified a response shorter than an NTProofStr")
		}
	})
}

func TestNTLMChallengeRejectsGarbage(t *testing.T) {
	for _, in := range [][]byte{nil, []byte("NTLMSSP\x00"), []byte("NTLMSSP\x00\x03\x00\x00\x00xxxx"), []byte("hello world, not ntlm")} {
		if _, _, err := ntlmChallenge(in, ntlmIdentity{}, time.Now()); err == nil {
			t.Errorf("ntlmChallenge(%q) accepted garbage", in)
		}
	}
}
