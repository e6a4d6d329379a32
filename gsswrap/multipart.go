package gsswrap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// Protocol is the multipart/encrypted protocol of Kerberos-sealed WS-Management messages (MS-WSMV
// §2.2.9.1.1; the SPNEGO variant, application/HTTP-SPNEGO-session-encrypted, is the same framing).
const Protocol = "application/HTTP-Kerberos-session-encrypted"

// boundary is the one Windows and every client use.
const boundary = "Encrypted Boundary"

// ContentType is the Content-Type of a sealed request or reply.
const ContentType = `multipart/encrypted;protocol="` + Protocol + `";boundary="` + boundary + `"`

// IsSealed reports whether contentType is a sealed body this package opens.
func IsSealed(contentType string) bool {
	_, ok := sealedParams(contentType)
	return ok
}

// sealedParams are the parameters of a sealed body's content type; ok is false for any other type.
func sealedParams(contentType string) (params map[string]string, ok bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	return params, err == nil && mt == "multipart/encrypted" && strings.EqualFold(params["protocol"], Protocol)
}

// Seal wraps msg, of MIME type originalType (application/soap+xml;charset=UTF-8), into a multipart body:
// a first part naming the protocol and the original type and length, a second with the little-endian
// signature length, the signature and the encrypted message.
func Seal(c *Context, originalType string, msg []byte) ([]byte, error) {
	return seal(c, originalType, msg, "--")
}

// SealAsExchange is Seal with the delimiters Exchange's /PowerShell endpoint writes: "-- Encrypted
// Boundary", a space after the dashes, which RFC 2046 does not allow and which jborean93/pypsrp's
// encryption.py reads for exactly that reason ("Talking to Exchange endpoints gives a non-compliant boundary
// that has a space between the -- {boundary}").
func SealAsExchange(c *Context, originalType string, msg []byte) ([]byte, error) {
	return seal(c, originalType, msg, "-- ")
}

func seal(c *Context, originalType string, msg []byte, dashes string) ([]byte, error) {
	sig, data, err := c.Wrap(msg)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(sig) + 256)
	fmt.Fprintf(&b, "%s%s\r\n\tContent-Type: %s\r\n\tOriginalContent: type=%s;Length=%d\r\n", dashes, boundary, Protocol, originalType, len(msg))
	fmt.Fprintf(&b, "%s%s\r\n\tContent-Type: application/octet-stream\r\n", dashes, boundary)
	_ = binary.Write(&b, binary.LittleEndian, uint32(len(sig)))
	b.Write(sig)
	b.Write(data)
	fmt.Fprintf(&b, "%s%s--\r\n", dashes, boundary)
	return b.Bytes(), nil
}

// Open checks and decrypts a body Seal or SealAsExchange made: it returns the original message and its MIME
// type. The length the first part announces must be the decrypted length. A delimiter may have spaces or
// tabs between its dashes and the boundary (Exchange writes "-- Encrypted Boundary"), and the closing
// delimiter may be missing (pypsrp reads both; the wrap token's checksum and the announced length still
// catch a body cut short).
func Open(c *Context, contentType string, body []byte) (msg []byte, originalType string, err error) {
	params, ok := sealedParams(contentType)
	if !ok {
		return nil, "", fmt.Errorf("sealed message: content type %q is not multipart/encrypted with protocol %s", contentType, Protocol)
	}
	if params["boundary"] == "" {
		return nil, "", errors.New("sealed message: the content type names no boundary")
	}
	bound := params["boundary"]
	start, ok := delimiterAt(body, 0, bound, "\r\n")
	if !ok {
		return nil, "", errors.New("sealed message: does not start with its boundary")
	}
	rest := body[start:]
	// The first part is text: its end is the first line that is the delimiter.
	var head []byte
	for i := 0; ; {
		j := bytes.Index(rest[i:], []byte("\r\n"))
		if j < 0 {
			return nil, "", errors.New("sealed message: no second part")
		}
		if m, ok := delimiterAt(rest, i+j+2, bound, "\r\n"); ok {
			head, rest = rest[:i+j], rest[m:]
			break
		}
		i += j + 2
	}
	var proto, orig string
	for _, line := range strings.Split(string(head), "\r\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-type":
			proto = strings.TrimSpace(v)
		case "originalcontent":
			orig = strings.TrimSpace(v)
		}
	}
	if !strings.EqualFold(proto, Protocol) {
		return nil, "", fmt.Errorf("sealed message: first part's content type %q is not %s", proto, Protocol)
	}
	typ, length, err := originalContent(orig)
	if err != nil {
		return nil, "", err
	}
	// The second part: its header line, then binary data up to the closing boundary.
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 || !strings.EqualFold(strings.TrimSpace(string(rest[:eol])), "Content-Type: application/octet-stream") {
		return nil, "", errors.New("sealed message: second part is not application/octet-stream")
	}
	payload := rest[eol+2:]
	if p, ok := bytes.CutSuffix(payload, []byte(bound+"--\r\n")); ok { // the closing delimiter, if it is there
		k := len(p)
		for k > 0 && (p[k-1] == ' ' || p[k-1] == '\t') {
			k--
		}
		if k >= 2 && string(p[k-2:k]) == "--" {
			payload = p[:k-2]
		}
	}
	if len(payload) < 4 {
		return nil, "", errors.New("sealed message: no signature length")
	}
	n := binary.LittleEndian.Uint32(payload)
	if uint64(n) > uint64(len(payload)-4) {
		return nil, "", fmt.Errorf("sealed message: signature length %d exceeds the %d bytes sent", n, len(payload)-4)
	}
	msg, err = c.Unwrap(payload[4:4+n], payload[4+n:])
	if err != nil {
		return nil, "", err
	}
	if len(msg) != length {
		return nil, "", fmt.Errorf("sealed message: decrypted %d bytes, the message announced %d", len(msg), length)
	}
	return msg, typ, nil
}

// delimiterAt reports whether b holds, at i, a delimiter line of boundary: "--", optional spaces or tabs,
// the boundary, then end ("\r\n", or "--\r\n" for the closing one); n is the index just past it.
func delimiterAt(b []byte, i int, boundary, end string) (n int, ok bool) {
	if !bytes.HasPrefix(b[i:], []byte("--")) {
		return 0, false
	}
	i += 2
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	rest := b[i:]
	if !bytes.HasPrefix(rest, []byte(boundary+end)) {
		return 0, false
	}
	return i + len(boundary) + len(end), true
}

// originalContent parses "type=application/soap+xml;charset=UTF-8;Length=1234".
func originalContent(v string) (typ string, length int, err error) {
	rest, ok := strings.CutPrefix(v, "type=")
	if !ok {
		return "", 0, fmt.Errorf("sealed message: OriginalContent %q has no type", v)
	}
	i := lastIndexFold(rest, ";length=")
	if i < 0 {
		return "", 0, fmt.Errorf("sealed message: OriginalContent %q has no Length", v)
	}
	length, err = strconv.Atoi(rest[i+len(";length="):])
	if err != nil || length < 0 {
		return "", 0, fmt.Errorf("sealed message: OriginalContent %q: bad Length", v)
	}
	return rest[:i], length, nil
}

// lastIndexFold is strings.LastIndex ignoring ASCII case. strings.ToLower cannot stand in for it: it turns
// invalid UTF-8 into U+FFFD and so moves every index after it (the fuzzer's finding).
func lastIndexFold(s, sub string) int {
	for i := len(s) - len(sub); i >= 0; i-- {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
