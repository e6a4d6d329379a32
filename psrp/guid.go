package psrp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is a .NET System.Guid. Its text form is the usual 8-4-4-4-12; in a message header it is written in
// .NET's byte order (the first three groups little-endian), MS-PSRP 2.2.5.1.18.
type GUID [16]byte

// NewGUID returns a random (version 4) GUID.
func NewGUID() GUID {
	var g GUID
	_, _ = rand.Read(g[:])
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// ParseGUID reads the 8-4-4-4-12 form, with or without braces, in either case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	t := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return g, fmt.Errorf("guid %q: want 8-4-4-4-12 hex digits", s)
	}
	b, err := hex.DecodeString(t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:])
	if err != nil {
		return g, fmt.Errorf("guid %q: %w", s, err)
	}
	copy(g[:], b)
	return g, nil
}

func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Upper is the form WS-Management selectors and CommandIds use.
func (g GUID) Upper() string { return strings.ToUpper(g.String()) }

// IsZero reports the empty GUID (a message addressed to the runspace pool has a zero PID).
func (g GUID) IsZero() bool { return g == GUID{} }

// wire returns the 16 bytes as .NET's Guid.ToByteArray writes them.
func (g GUID) wire() [16]byte {
	var b [16]byte
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:], g[8:])
	return b
}

func guidFromWire(b []byte) GUID {
	var g GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:16])
	return g
}
