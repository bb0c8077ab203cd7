"""The baselines the gateway is compared with: nameko with nothing of ours.

    python -m servicekit.run bench.bare:BareHttp      # GET /ping -> constant
    python -m servicekit.run bench.bare:EchoService   # RPC echo(value)
    python -m servicekit.run bench.bare:HttpRpcEcho   # GET /echo -> one RPC to EchoService

Plain `nameko.web.handlers.http` and `nameko.rpc.RpcProxy`; run under the same
runner and configuration (max_workers, serializer) as the gateway."""
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http


class BareHttp:
    name = "bench_bare_http"

    @http("GET", "/ping")
    def ping(self, request):
        return "pong"


class EchoService:
    name = "bench_echo"

    @rpc
    def echo(self, value):
        return value


class HttpRpcEcho:
    name = "bench_http_rpc_echo"
    echo_service = RpcProxy("bench_echo")

    @http("GET", "/echo")
    def echo(self, request):
        return self.echo_service.echo("pong")
