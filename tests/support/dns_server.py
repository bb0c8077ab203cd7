"""A small but real DNS server for the tests (docs/sso.md, "Verifying a
domain"): UDP on loopback, answering TXT queries from `server.txt` (name ->
list of strings) that the test sets, NXDOMAIN for any other name. No outside
network exists here: identity is pointed at it with SSO_DNS_NAMESERVERS.

It runs in real OS threads, even in a process eventlet has monkey-patched (the
e2e and service tests' own process), so that it keeps answering whatever the
code under test does to the process's green threads; each answer is sent from
a thread of its own after `delay` seconds, so slow answers overlap. `drop`
makes it answer nothing (a name server that does not answer); `servfail`
answers SERVFAIL."""
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

try:  # the originals, not eventlet's green versions, when the process is patched
    from eventlet import patcher

    _socket, _threading, _time = patcher.original("socket"), patcher.original("threading"), patcher.original("time")
except ImportError:  # pragma: no cover
    import socket as _socket
    import threading as _threading
    import time as _time


class DnsServer:
    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.txt: dict[str, list[str]] = {}
        self.delay = 0.0
        self.drop = False
        self.servfail = False
        self.queries: list[tuple[str, str]] = []  # (name, type) of every query received
        self._sock = None
        self._thread = None
        self._stopping = False

    @property
    def address(self) -> str:
        """For SSO_DNS_NAMESERVERS."""
        return f"{self.host}:{self.port}"

    def publish(self, name: str, *values: str) -> None:
        self.txt.setdefault(name.rstrip(".").lower(), []).extend(values)

    def clear(self) -> None:
        self.txt.clear()

    def start(self) -> "DnsServer":
        self._sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        self._sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.settimeout(0.2)
        self._thread = _threading.Thread(target=self._serve, name="test-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                wire, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            _threading.Thread(target=self._answer, args=(wire, client), daemon=True).start()

    def _answer(self, wire: bytes, client) -> None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 - garbage is not answered
            return
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.queries.append((name, dns.rdatatype.to_text(question.rdtype)))
        if self.drop:
            return
        if self.delay:
            _time.sleep(self.delay)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.txt:
            if question.rdtype == dns.rdatatype.TXT and self.txt[name]:
                response.answer.append(dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN,
                                                                dns.rdatatype.TXT,
                                                                [_quoted(v) for v in self.txt[name]]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        try:
            self._sock.sendto(response.to_wire(), client)
        except OSError:
            pass


def _quoted(value: str) -> str:
    """A TXT value in zone-file form: strings of at most 255 characters, quoted."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)
