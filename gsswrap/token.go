package gsswrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 4121 §4.2.2 flags of a wrap token.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// headerLen is the wrap token's own header (RFC 4121 §4.2.6.2).
const headerLen = 16

// Context is one side of an established Kerberos GSS-API security context: enough to seal messages for
// the peer and open the peer's. It is not safe for concurrent use; a WinRM connection carries one
// request at a time.
type Context struct {
	key            types.EncryptionKey
	et             etype.EType
	acceptor       bool // this side accepted the context (the server)
	acceptorSubkey bool // the key is the subkey the acceptor chose in its AP-REP
	sendSeq        uint64
	recvSeq        uint64
}

// Params describe an established context, from the AP-REQ and AP-REP that established it.
type Params struct {
	// Key protects the messages: the acceptor's subkey from the AP-REP if it sent one (AcceptorSubkey true),
	// else the initiator's subkey from the authenticator if it sent one, else the ticket's session key.
	Key            types.EncryptionKey
	AcceptorSubkey bool
	// InitiatorSeq is the sequence number of the authenticator; AcceptorSeq the AP-REP's (the acceptor
	// numbers its own messages from there).
	InitiatorSeq, AcceptorSeq uint64
}

// NewInitiator is the client's side of a context.
func NewInitiator(p Params) (*Context, error) { return newContext(p, false) }

// NewAcceptor is the server's side of a context.
func NewAcceptor(p Params) (*Context, error) { return newContext(p, true) }

func newContext(p Params, acceptor bool) (*Context, error) {
	switch p.Key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
	default:
		// RFC 8009's SHA-2 enctypes are not in Active Directory; RC4 tokens are RFC 4757's, not RFC 4121's.
		return nil, fmt.Errorf("kerberos message encryption needs an AES-SHA1 session key (enctype 17 or 18, what Active Directory "+
			"issues); the key has enctype %d (RC4-HMAC is 23): allow AES for the account and the server's computer account", p.Key.KeyType)
	}
	et, err := crypto.GetEtype(p.Key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos message encryption: %w", err)
	}
	c := &Context{key: p.Key, et: et, acceptor: acceptor, acceptorSubkey: p.AcceptorSubkey}
	if acceptor {
		c.sendSeq, c.recvSeq = p.AcceptorSeq, p.InitiatorSeq
	} else {
		c.sendSeq, c.recvSeq = p.InitiatorSeq, p.AcceptorSeq
	}
	return c, nil
}

// usages: RFC 4121 §2 key usage numbers for sealing, by sender.
func sealUsage(byAcceptor bool) uint32 {
	if byAcceptor {
		return keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	return keyusage.GSSAPI_INITIATOR_SEAL
}

func (c *Context) flags(byAcceptor bool) byte {
	f := byte(flagSealed)
	if byAcceptor {
		f |= flagSentByAcceptor
	}
	if c.acceptorSubkey {
		f |= flagAcceptorSubkey
	}
	return f
}

func tokenHeader(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, headerLen)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xFF
	binary.BigEndian.PutUint16(h[4:], ec)
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// Wrap seals msg. It returns the signature (token header, the encrypted header copy and checksum rotated to
// the front, the encrypted confounder) and the encrypted message, of msg's length: the two parts of
// SSPI's EncryptMessage with SECBUFFER_TOKEN and SECBUFFER_DATA, and of gss_wrap_iov with HEADER, DATA
// and PADDING buffers. EC is 0 (AES-CTS needs no padding) and RRC is the checksum plus the encrypted
// header, as both produce.
func (c *Context) Wrap(msg []byte) (signature, data []byte, err error) {
	f := c.flags(c.acceptor)
	plain := make([]byte, 0, len(msg)+headerLen)
	plain = append(plain, msg...)
	plain = append(plain, tokenHeader(f, 0, 0, c.sendSeq)...) // the encrypted copy has RRC 0 (RFC 4121 §4.2.4)
	_, ct, err := c.et.EncryptMessage(c.key.KeyValue, plain, sealUsage(c.acceptor))
	if err != nil {
		return nil, nil, fmt.Errorf("kerberos message encryption: %w", err)
	}
	rrc := headerLen + c.et.GetHMACBitLength()/8
	rotated := make([]byte, 0, len(ct))
	rotated = append(rotated, ct[len(ct)-rrc:]...)
	rotated = append(rotated, ct[:len(ct)-rrc]...)
	sigLen := rrc + c.et.GetConfounderByteSize()
	signature = append(tokenHeader(f, 0, uint16(rrc), c.sendSeq), rotated[:sigLen]...)
	c.sendSeq++
	return signature, rotated[sigLen:], nil
}

// Unwrap opens what the peer sealed: the signature and data as Wrap returns them (any EC and RRC the RFC
// allows). It checks the direction, the sealing, the key flag, the checksum, the header copy and the
// sequence number: a message replayed, reordered, reflected back or tampered with is refused.
func (c *Context) Unwrap(signature, data []byte) ([]byte, error) {
	if len(signature) < headerLen {
		return nil, fmt.Errorf("kerberos wrap token: signature of %d bytes is shorter than its header", len(signature))
	}
	h := signature[:headerLen]
	if h[0] != 0x05 || h[1] != 0x04 || h[3] != 0xFF {
		return nil, fmt.Errorf("kerberos wrap token: header % x is not an RFC 4121 wrap token", h[:4])
	}
	peerIsAcceptor := !c.acceptor
	if want := c.flags(peerIsAcceptor); h[2] != want {
		return nil, fmt.Errorf("kerberos wrap token: flags %#02x, want %#02x (sent by the %s, sealed%s)", h[2], want,
			map[bool]string{true: "acceptor", false: "initiator"}[peerIsAcceptor], map[bool]string{true: ", acceptor subkey", false: ""}[c.acceptorSubkey])
	}
	ec := int(binary.BigEndian.Uint16(h[4:]))
	rrc := int(binary.BigEndian.Uint16(h[6:]))
	seq := binary.BigEndian.Uint64(h[8:])
	body := make([]byte, 0, len(signature)-headerLen+len(data))
	body = append(body, signature[headerLen:]...)
	body = append(body, data...)
	minLen := c.et.GetConfounderByteSize() + headerLen + c.et.GetHMACBitLength()/8 + ec
	if len(body) < minLen {
		return nil, fmt.Errorf("kerberos wrap token: %d bytes, shorter than the %d of an empty message", len(body), minLen)
	}
	if rrc %= len(body); rrc != 0 { // undo the right rotation
		body = append(append(make([]byte, 0, len(body)), body[rrc:]...), body[:rrc]...)
	}
	plain, err := c.et.DecryptMessage(c.key.KeyValue, body, sealUsage(peerIsAcceptor))
	if err != nil {
		return nil, fmt.Errorf("kerberos wrap token: %w", err)
	}
	if len(plain) < ec+headerLen {
		return nil, errors.New("kerberos wrap token: decrypted message shorter than its header copy")
	}
	cp := plain[len(plain)-headerLen:]
	if !bytes.Equal(cp[:6], h[:6]) || !bytes.Equal(cp[8:], h[8:]) {
		return nil, errors.New("kerberos wrap token: the encrypted header copy does not match the header")
	}
	if seq != c.recvSeq {
		return nil, fmt.Errorf("kerberos wrap token: sequence number %d, want %d (replayed or reordered)", seq, c.recvSeq)
	}
	c.recvSeq++
	return plain[:len(plain)-headerLen-ec], nil
}
