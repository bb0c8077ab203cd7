"""A local SMTP server that keeps every email it receives as a .eml file.

    python -m scripts.mailsink    # MAILSINK_DIR (var/mail), MAILSINK_HOST (127.0.0.1), SMTP_PORT (1025)

`make run` starts it so a person trying the suite can open the invitation
and password emails; the tests start it too (a real SMTP server, not a mock)."""
import os
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class EmlStore:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        content = envelope.original_content or envelope.content
        header = f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode()
        tmp = self.folder / (name + ".tmp")
        tmp.write_bytes(header + content)
        tmp.rename(self.folder / name)  # readers never see a half-written file
        return "250 Message accepted for delivery"


def read_messages(folder: Path) -> list:
    """Parsed emails in arrival order."""
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(Path(folder).glob("*.eml"))]


def start(folder: Path, host: str = "127.0.0.1", port: int = 1025, **smtp_options) -> Controller:
    """`smtp_options` go to aiosmtpd: e.g. `ssl_context` (SMTPS) or
    `tls_context` and `require_starttls` (STARTTLS), for tests of TLS."""
    controller = Controller(EmlStore(folder), hostname=host, port=port, **smtp_options)
    controller.start()
    return controller


def main() -> None:
    folder = Path(os.environ.get("MAILSINK_DIR", "var/mail")).resolve()
    host = os.environ.get("MAILSINK_HOST", "127.0.0.1")
    port = int(os.environ.get("SMTP_PORT", "1025"))
    controller = start(folder, host=host, port=port)
    print(f"mail sink on {host}:{port}, writing .eml files to {folder}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


if __name__ == "__main__":
    main()
