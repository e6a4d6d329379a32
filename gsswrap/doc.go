// Package gsswrap seals WS-Management messages with a Kerberos session key, as Windows does for WinRM over
// plain HTTP: RFC 4121 wrap tokens (confidentiality and integrity) in the layout Windows SSPI's
// EncryptMessage and MIT's gss_wrap_iov produce — a 60-byte "signature" (token header, the rotated
// encrypted header copy and checksum, the encrypted confounder) followed by the encrypted data — inside
// MS-WSMV §2.2.9.1 multipart/encrypted bodies (protocol application/HTTP-Kerberos-session-encrypted).
//
// Only AES-SHA1 keys (RFC 3962, the AES enctypes Active Directory issues) are sealed: RC4-HMAC uses the
// older RFC 4757 tokens, and Microsoft is removing RC4 from Active Directory's defaults; a context with
// another key is refused with an error naming the enctype.
package gsswrap
