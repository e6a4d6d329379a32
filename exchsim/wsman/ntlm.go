package wsman

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	//lint:ignore SA1019 NTLM is defined on MD4; compatibility with Windows is the point.
	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is defined on MD4; there is no alternative.
)

// NTLM (MS-NLMP) server side, just enough to authenticate NTLMv2 clients the way a Windows WinRM listener
// does: no signing or sealing (clients use HTTPS or AllowUnencrypted), MIC not checked. No maintained Go
// NTLM acceptor exists (winrm-protocol.md §4.3), hence this.

const (
	ntlmNegotiateUnicode        = 0x00000001
	ntlmRequestTarget           = 0x00000004
	ntlmNegotiateSign           = 0x00000010
	ntlmNegotiateSeal           = 0x00000020
	ntlmNegotiateNTLM           = 0x00000200
	ntlmNegotiateAlwaysSign     = 0x00008000
	ntlmTargetTypeDomain        = 0x00010000
	ntlmExtendedSessionSecurity = 0x00080000
	ntlmNegotiateTargetInfo     = 0x00800000
	ntlmNegotiateVersion        = 0x02000000
	ntlmNegotiate128            = 0x20000000
	ntlmNegotiateKeyExch        = 0x40000000
	ntlmNegotiate56             = 0x80000000
)

const ntlmSignature = "NTLMSSP\x00"

// ntlmIdentity is what the server tells clients about itself in the CHALLENGE.
type ntlmIdentity struct {
	NetBIOSDomain   string // EXLAB
	NetBIOSComputer string // EX01
	DNSDomain       string // exlab.local
	DNSComputer     string // ex01.exlab.local
}

// ntlmMessageType returns the type (1, 2, 3) of an NTLM message, or an error.
func ntlmMessageType(msg []byte) (uint32, error) {
	if len(msg) < 12 || string(msg[:8]) != ntlmSignature {
		return 0, errors.New("not an NTLMSSP message")
	}
	return binary.LittleEndian.Uint32(msg[8:12]), nil
}

// ntlmChallenge builds a CHALLENGE (type 2) answering the client's NEGOTIATE, with a fresh server challenge.
func ntlmChallenge(negotiate []byte, id ntlmIdentity, now time.Time) (msg, serverChallenge []byte, err error) {
	if t, err := ntlmMessageType(negotiate); err != nil || t != 1 || len(negotiate) < 16 {
		return nil, nil, errors.New("expected an NTLM NEGOTIATE message")
	}
	clientFlags := binary.LittleEndian.Uint32(negotiate[12:16])
	flags := uint32(ntlmNegotiateUnicode | ntlmRequestTarget | ntlmNegotiateNTLM | ntlmNegotiateAlwaysSign |
		ntlmTargetTypeDomain | ntlmExtendedSessionSecurity | ntlmNegotiateTargetInfo | ntlmNegotiateVersion |
		ntlmNegotiate128 | ntlmNegotiate56)
	// Echo signing/sealing/key exchange only when asked: Azure/go-ntlmssp rejects a CHALLENGE with KEY_EXCH
	// it did not request.
	flags |= clientFlags & (ntlmNegotiateSign | ntlmNegotiateSeal | ntlmNegotiateKeyExch)

	serverChallenge = make([]byte, 8)
	if _, err := rand.Read(serverChallenge); err != nil {
		return nil, nil, fmt.Errorf("ntlm challenge: %w", err)
	}
	target := utf16le(id.NetBIOSDomain)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(2, utf16le(id.NetBIOSDomain))
	av(1, utf16le(id.NetBIOSComputer))
	av(4, utf16le(id.DNSDomain))
	av(3, utf16le(id.DNSComputer))
	ft := make([]byte, 8)
	binary.LittleEndian.PutUint64(ft, uint64(now.UnixNano()/100+116444736000000000)) // FILETIME
	av(7, ft)
	av(0, nil)

	const headerLen = 56
	msg = make([]byte, headerLen, headerLen+len(target)+info.Len())
	copy(msg, ntlmSignature)
	binary.LittleEndian.PutUint32(msg[8:], 2)
	putSecBuf(msg[12:], len(target), headerLen)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:32], serverChallenge)
	putSecBuf(msg[40:], info.Len(), headerLen+len(target))
	copy(msg[48:56], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 15}) // Windows 10.0 build 17763 (Server 2019), NTLMSSP rev 15
	msg = append(msg, target...)
	msg = append(msg, info.Bytes()...)
	return msg, serverChallenge, nil
}

// ntlmAuthenticate is the part of an AUTHENTICATE (type 3) message the server checks.
type ntlmAuthenticate struct {
	Domain, User, Workstation string
	NTResponse                []byte
}

func parseNTLMAuthenticate(msg []byte) (*ntlmAuthenticate, error) {
	if t, err := ntlmMessageType(msg); err != nil || t != 3 || len(msg) < 64 {
		return nil, errors.New("expected an NTLM AUTHENTICATE message")
	}
	flags := binary.LittleEndian.Uint32(msg[60:64])
	field := func(off int) ([]byte, error) {
		l := int(binary.LittleEndian.Uint16(msg[off:]))
		o := int(binary.LittleEndian.Uint32(msg[off+4:]))
		if o < 0 || l < 0 || o > len(msg) || l > len(msg)-o {
			return nil, fmt.Errorf("ntlm: field at %d out of bounds", off)
		}
		return msg[o : o+l], nil
	}
	str := func(off int) (string, error) {
		b, err := field(off)
		if err != nil {
			return "", err
		}
		if flags&ntlmNegotiateUnicode != 0 {
			return fromUTF16le(b), nil
		}
		return string(b), nil
	}
	var a ntlmAuthenticate
	var err error
	if a.NTResponse, err = field(20); err != nil {
		return nil, err
	}
	if a.Domain, err = str(28); err != nil {
		return nil, err
	}
	if a.User, err = str(36); err != nil {
		return nil, err
	}
	if a.Workstation, err = str(44); err != nil {
		return nil, err
	}
	return &a, nil
}

// verifyNTLMv2 checks the client's NTProofStr against the password: NTOWFv2 = HMAC_MD5(MD4(UTF16LE(pw)),
// UTF16LE(upper(user) + domain)); NTProofStr = HMAC_MD5(NTOWFv2, serverChallenge ‖ blob). The domain is the
// one the client put in the message (clients differ in what they put there, §4.3).
func verifyNTLMv2(a *ntlmAuthenticate, password string, serverChallenge []byte) bool {
	if len(a.NTResponse) <= 24 { // NTLMv1 (24 bytes) or anonymous: refused, as a hardened Windows does
		return false
	}
	h := md4.New()
	h.Write(utf16le(password))
	ntHash := h.Sum(nil)
	mac := hmac.New(md5.New, ntHash)
	mac.Write(utf16le(strings.ToUpper(a.User) + a.Domain))
	ntowf := mac.Sum(nil)
	mac = hmac.New(md5.New, ntowf)
	mac.Write(serverChallenge)
	mac.Write(a.NTResponse[16:])
	return hmac.Equal(mac.Sum(nil), a.NTResponse[:16])
}

func putSecBuf(b []byte, length, offset int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(length))
	binary.LittleEndian.PutUint16(b[2:], uint16(length))
	binary.LittleEndian.PutUint32(b[4:], uint32(offset))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
