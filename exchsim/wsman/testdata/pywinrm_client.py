"""Drive exchsim's WinRM listener with Debian's python3-winrm (0.3.0), a client nobody here wrote.

Usage: pywinrm_client.py ENDPOINT TRANSPORT USER PASSWORD CA_FILE_OR_- COMMAND [ARG...]
With TRANSPORT "certificate", USER and PASSWORD are the client certificate's and its key's PEM files.
With TRANSPORT "kerberos", USER is the listener's host name for the service principal (HTTP/USER) and the
ticket comes from the credential cache in $KRB5CCNAME (kinit); PASSWORD is ignored.
Prints one JSON line: {"stdout": ..., "stderr": ..., "code": N} or {"error": TYPE, "message": ...}.
Uses winrm.protocol.Protocol directly: Session.run_ps in 0.3.0 raises TypeError whenever stderr is non-empty
(pywinrm #285, winrm-protocol.md §3).
"""
import json
import sys

from winrm.protocol import Protocol


def main():
    endpoint, transport, user, password, ca, command = sys.argv[1:7]
    args = sys.argv[7:]
    kw = dict(endpoint=endpoint, transport=transport, username=user, password=password,
              operation_timeout_sec=5, read_timeout_sec=10, message_encryption="never")
    if transport == "certificate":
        kw.update(username=None, password=None, cert_pem=user, cert_key_pem=password)
    if transport == "kerberos":
        kw.update(username=None, password=None, kerberos_hostname_override=user)
    if ca != "-":
        kw["ca_trust_path"] = ca
    try:
        p = Protocol(**kw)
        shell = p.open_shell()
        cmd = p.run_command(shell, command, args)
        out, err, code = p.get_command_output(shell, cmd)
        p.cleanup_command(shell, cmd)
        p.close_shell(shell)
        print(json.dumps({"stdout": out.decode("utf-8"), "stderr": err.decode("utf-8"), "code": code}))
    except Exception as e:  # the test asserts on the type name
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))


main()
