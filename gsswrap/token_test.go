package gsswrap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// pair is an initiator and an acceptor sharing a fresh key of enctype et.
func pair(t *testing.T, et int32, acceptorSubkey bool) (ini, acc *Context) {
	t.Helper()
	e, err := crypto.GetEtype(et)
	if err != nil {
		t.Fatal(err)
	}
	key, err := types.GenerateEncryptionKey(e)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Key: key, AcceptorSubkey: acceptorSubkey, InitiatorSeq: 0x1234, AcceptorSeq: 0x3fff0000}
	if ini, err = NewInitiator(p); err != nil {
		t.Fatal(err)
	}
	if acc, err = NewAcceptor(p); err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

func TestWrapRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		et     int32
		subkey bool
		sigLen int
	}{
		{"aes256 session key", etypeID.AES256_CTS_HMAC_SHA1_96, false, 60},
		{"aes256 acceptor subkey", etypeID.AES256_CTS_HMAC_SHA1_96, true, 60},
		{"aes128", etypeID.AES128_CTS_HMAC_SHA1_96, true, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, acc := pair(t, tc.et, tc.subkey)
			for i, msg := range [][]byte{[]byte("<s:Envelope/>"), {}, bytes.Repeat([]byte("x"), 70000)} {
				sig, data, err := ini.Wrap(msg)
				if err != nil {
					t.Fatal(err)
				}
				if len(sig) != tc.sigLen || len(data) != len(msg) {
					t.Fatalf("message %d: signature %d bytes (want %d), data %d (want %d)", i, len(sig), tc.sigLen, len(data), len(msg))
				}
				if len(msg) > 32 && bytes.Contains(data, msg[:32]) {
					t.Fatal("the data went out in clear")
				}
				got, err := acc.Unwrap(sig, data)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("acceptor opened message %d: %v (%d bytes)", i, err, len(got))
				}
				sig, data, err = acc.Wrap(msg) // and the reply
				if err != nil {
					t.Fatal(err)
				}
				if got, err := ini.Unwrap(sig, data); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("initiator opened reply %d: %v", i, err)
				}
			}
		})
	}
}

func TestUnwrapRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mess func(ini, acc *Context, sig, data []byte) (*Context, []byte, []byte)
		want string
	}{
		{"tampered data", func(_, acc *Context, sig, data []byte) (*Context, []byte, []byte) {
			data[3] ^= 1
			return acc, sig, data
		}, "integrity"},
		{"tampered sequence number", func(_, acc *Context, sig, data []byte) (*Context, []byte, []byte) {
			sig[15] ^= 1
			return acc, sig, data
		}, "header copy"},
		{"reflected to its sender", func(ini, _ *Context, sig, data []byte) (*Context, []byte, []byte) {
			return ini, sig, data
		}, "flags"},
		{"not sealed", func(_, acc *Context, sig, data []byte) (*Context, []byte, []byte) {
			sig[2] &^= flagSealed
			return acc, sig, data
		}, "flags"},
		{"not a wrap token", func(_, acc *Context, sig, data []byte) (*Context, []byte, []byte) {
			sig[1] = 0x05
			return acc, sig, data
		}, "not an RFC 4121 wrap token"},
		{"truncated", func(_, acc *Context, sig, _ []byte) (*Context, []byte, []byte) {
			return acc, sig[:20], nil
		}, "shorter"},
		{"short signature", func(_, acc *Context, sig, _ []byte) (*Context, []byte, []byte) {
			return acc, sig[:10], nil
		}, "shorter than its header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
			sig, data, err := ini.Wrap([]byte("<s:Envelope>secret</s:Envelope>"))
			if err != nil {
				t.Fatal(err)
			}
			c, sig, data := tc.mess(ini, acc, sig, data)
			if _, err := c.Unwrap(sig, data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unwrap = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestUnwrapRefusesReplayAndReorder(t *testing.T) {
	ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
	s1, d1, _ := ini.Wrap([]byte("one"))
	s2, d2, _ := ini.Wrap([]byte("two"))
	if _, err := acc.Unwrap(s2, d2); err == nil || !strings.Contains(err.Error(), "sequence number") {
		t.Fatalf("second message first: %v, want a sequence error", err)
	}
	if _, err := acc.Unwrap(s1, d1); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Unwrap(s1, d1); err == nil {
		t.Fatal("a replayed message was accepted")
	}
}

// TestUnwrapAnyRotation: RFC 4121 lets the sender choose RRC (Windows and MIT rotate by 28 for AES-SHA1,
// a stream sender by 0); the receiver must undo whatever was chosen.
func TestUnwrapAnyRotation(t *testing.T) {
	for _, rrc := range []int{0, 5, 28, 1000} {
		ini, acc := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96, true)
		sig, data, err := ini.Wrap([]byte("<s:Envelope>rotated</s:Envelope>"))
		if err != nil {
			t.Fatal(err)
		}
		body := append(append([]byte{}, sig[headerLen:]...), data...)
		old := int(binary.BigEndian.Uint16(sig[6:]))
		n := len(body)
		body = append(body[old%n:], body[:old%n]...) // unrotated
		r := rrc % n
		body = append(body[n-r:], body[:n-r]...) // rotated right by rrc
		hdr := append([]byte{}, sig[:headerLen]...)
		binary.BigEndian.PutUint16(hdr[6:], uint16(rrc))
		got, err := acc.Unwrap(hdr, body)
		if err != nil || string(got) != "<s:Envelope>rotated</s:Envelope>" {
			t.Fatalf("RRC %d: %q, %v", rrc, got, err)
		}
	}
}

func TestOtherEnctypesRefused(t *testing.T) {
	for _, et := range []int32{etypeID.RC4_HMAC, etypeID.AES256_CTS_HMAC_SHA384_192, etypeID.DES3_CBC_SHA1_KD} {
		_, err := NewInitiator(Params{Key: types.EncryptionKey{KeyType: et, KeyValue: make([]byte, 32)}})
		if err == nil || !strings.Contains(err.Error(), "AES-SHA1") || !strings.Contains(err.Error(), fmt.Sprint(et)) {
			t.Fatalf("enctype %d: %v, want a refusal naming AES-SHA1 and the enctype", et, err)
		}
	}
}
