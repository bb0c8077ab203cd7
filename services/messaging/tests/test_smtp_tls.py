"""messaging's SMTP connection over TLS (SMTPS and STARTTLS) against a real
aiosmtpd server with a certificate made for the test (openssl)."""
import smtplib
import ssl
import subprocess
from dataclasses import replace
from email.message import EmailMessage

import pytest

from scripts import mailsink
from services.messaging import sender
from services.messaging.tests.conftest import free_port, wait_for


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def settings(port: int, **changes) -> sender.SmtpSettings:
    return replace(sender.smtp_settings(), host="127.0.0.1", port=port, user=None, password=None, timeout=10,
                   **changes)


def send_one(settings_: sender.SmtpSettings, to: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "noreply@example.com", to, "TLS check"
    message.set_content("over TLS")
    smtp = sender.connect(settings_)
    try:
        smtp.send_message(message)
    finally:
        smtp.quit()


@pytest.mark.parametrize("mode", ["STARTTLS", "SMTPS"])
def test_delivers_over_tls_with_the_certificate_verified(certificate, tmp_path, mode):
    port = free_port()
    context = server_context(certificate)
    options = {"ssl_context": context} if mode == "SMTPS" else {"tls_context": context, "require_starttls": True}
    server = mailsink.start(tmp_path, port=port, **options)
    try:
        trusted = settings(port, starttls=mode == "STARTTLS", use_ssl=mode == "SMTPS", ca_file=str(certificate[0]))
        send_one(trusted, "tls@example.com")
        [received] = wait_for(lambda: mailsink.read_messages(tmp_path))
        assert received["Subject"] == "TLS check" and received["X-Envelope-To"] == "tls@example.com"

        # the same server without its CA: the certificate is refused, nothing is sent
        with pytest.raises(ssl.SSLCertVerificationError):
            send_one(replace(trusted, ca_file=None), "untrusted@example.com")
        assert len(mailsink.read_messages(tmp_path)) == 1
    finally:
        server.stop()


def test_a_server_requiring_starttls_refuses_plain_mail(certificate, tmp_path):
    port = free_port()
    server = mailsink.start(tmp_path, port=port, tls_context=server_context(certificate), require_starttls=True)
    try:
        with pytest.raises(smtplib.SMTPException) as refused:  # 530 "Must issue a STARTTLS command first"
            send_one(settings(port, starttls=False, use_ssl=False, ca_file=None), "plain@example.com")
        assert "STARTTLS" in str(refused.value)
        assert mailsink.read_messages(tmp_path) == []
    finally:
        server.stop()
