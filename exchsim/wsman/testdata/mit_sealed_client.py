"""Drive exchsim's WinRM listener over plain HTTP with Kerberos message encryption done by MIT krb5.

Nobody here wrote either half: python3-winrm (0.3.0) builds and parses the WS-Management messages, and
MIT's GSSAPI (python3-gssapi) establishes the context and seals them. The sealing calls are the ones
pyspnego's wrap_winrm/unwrap_winrm make for Kerberos (gss_wrap_iov with HEADER, DATA and PADDING buffers;
gss_unwrap_iov with HEADER and DATA), inside MS-WSMV's multipart/encrypted framing, on one kept-alive
connection that authenticates once with an empty POST, as pywinrm's own encryption does. Debian's
python3-winrm cannot seal Kerberos itself (its python3-kerberos lacks authGSSWinRMEncryptMessage).

Usage: mit_sealed_client.py HOST PORT SPN_HOST PATH COMMAND [ARG...]
The ticket comes from the credential cache in $KRB5CCNAME (kinit).
Prints one JSON line: {"stdout": ..., "stderr": ..., "code": N, "sealed_requests": N, "signature_bytes": N}
(the signature and padding MIT produced for the last request) or
{"error": TYPE, "message": ...}.
"""
import base64
import http.client
import json
import struct
import sys

import gssapi
import gssapi.raw as graw
from winrm.protocol import Protocol

BOUNDARY = b"--Encrypted Boundary"
PROTOCOL = "application/HTTP-Kerberos-session-encrypted"
KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


class SealedTransport:
    def __init__(self, host, port, spn_host, path):
        self.path = path
        self.conn = http.client.HTTPConnection(host, port, timeout=20)
        name = gssapi.Name("HTTP@" + spn_host, gssapi.NameType.hostbased_service)
        flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.integrity | \
            gssapi.RequirementFlag.confidentiality | gssapi.RequirementFlag.out_of_sequence_detection
        self.ctx = gssapi.SecurityContext(name=name, mech=KRB5, usage="initiate", flags=flags)
        self.sealed = 0
        self.header_len = 0
        token = self.ctx.step()
        self.conn.request("POST", path, body=b"", headers={
            "Authorization": "Negotiate " + base64.b64encode(token).decode(),
            "Content-Length": "0", "User-Agent": "mit-sealed-client"})
        resp = self.conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError("context set-up answered HTTP %d" % resp.status)
        reply = resp.getheader("WWW-Authenticate", "")
        scheme, _, tok = reply.partition(" ")
        self.ctx.step(base64.b64decode(tok))
        if not self.ctx.complete:
            raise RuntimeError("the server's AP-REP did not complete the context")

    def send_message(self, message):
        if isinstance(message, str):
            message = message.encode("utf-8")
        iov = graw.IOV(graw.IOVBufferType.header, message, graw.IOVBufferType.padding, std_layout=False)
        graw.wrap_iov(self.ctx, iov, confidential=True)
        header, data, padding = iov[0].value, iov[1].value, iov[2].value or b""
        self.header_len = len(header) + len(padding)
        body = BOUNDARY + b"\r\n"
        body += ("\tContent-Type: %s\r\n" % PROTOCOL).encode()
        body += ("\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n" % len(message)).encode()
        body += BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
        body += struct.pack("<i", len(header)) + header + data + padding
        body += BOUNDARY + b"--\r\n"
        self.conn.request("POST", self.path, body=body, headers={
            "Content-Type": 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTOCOL,
            "User-Agent": "mit-sealed-client"})
        resp = self.conn.getresponse()
        content = resp.read()
        ctype = resp.getheader("Content-Type", "")
        if "multipart/encrypted" not in ctype:
            raise RuntimeError("HTTP %d reply not sealed (%s): %r" % (resp.status, ctype, content[:200]))
        self.sealed += 1
        text = self.unseal(content)
        if resp.status != 200:
            raise RuntimeError("HTTP %d: %s" % (resp.status, text[:300]))
        return text

    def unseal(self, content):
        parts = [p for p in content.split(BOUNDARY + b"\r\n") if p]
        if len(parts) != 2:
            raise RuntimeError("sealed reply has %d parts" % len(parts))
        expected = int(parts[0].split(b"Length=")[1].split(b"\r\n")[0])
        payload = parts[1].replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        payload = payload[:-len(BOUNDARY + b"--\r\n")]
        n = struct.unpack("<i", payload[:4])[0]
        iov = graw.IOV((graw.IOVBufferType.header, False, payload[4:4 + n]), payload[4 + n:], std_layout=False)
        graw.unwrap_iov(self.ctx, iov)
        plain = iov[1].value
        if len(plain) != expected:
            raise RuntimeError("decrypted %d bytes, announced %d" % (len(plain), expected))
        return plain


def main():
    host, port, spn_host, path, command = sys.argv[1:6]
    args = sys.argv[6:]
    try:
        p = Protocol(endpoint="http://%s:%s%s" % (host, port, path), transport="plaintext", username="x",
                     password="x", operation_timeout_sec=5, read_timeout_sec=10, message_encryption="never")
        p.transport = SealedTransport(host, int(port), spn_host, path)
        shell = p.open_shell()
        cmd = p.run_command(shell, command, args)
        out, err, code = p.get_command_output(shell, cmd)
        p.cleanup_command(shell, cmd)
        p.close_shell(shell)
        print(json.dumps({"stdout": out.decode("utf-8"), "stderr": err.decode("utf-8"), "code": code,
                          "sealed_requests": p.transport.sealed, "signature_bytes": p.transport.header_len}))
    except Exception as e:  # the test asserts on the type name
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))


main()
