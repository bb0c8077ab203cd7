"""The gateway next to bare nameko, in one run on this machine.

    python -m bench.run gateway

Measures requests/s, p50 and p99 of
  1. the gateway's authenticated `GET /v1/me` (JWT check, one RPC to identity, which reads the user and roles),
  2. `POST /v1/auth/login` (argon2: slow on purpose),
  3. a bare nameko HTTP entrypoint returning a constant (bench.bare:BareHttp),
  4. a bare HTTP entrypoint making one RPC to an echo service (bench.bare:HttpRpcEcho → EchoService),
and the ratios of /v1/me to the two baselines (target: ≥ 70 % of the HTTP→RPC echo). 1, 3 and 4 are
measured in interleaved slices (see bench.harness.measure_interleaved); each also reports the CPU time per
request of the processes serving it, which depends much less than req/s on what else the machine is doing."""
import json

from bench.harness import (
    Target,
    create_admin,
    login,
    measure,
    measure_interleaved,
    nameko_processes,
    pids_matching,
    print_table,
    running_suite,
    wait_http,
    wait_until_quiet,
)

TARGET = 0.70  # GET /v1/me vs the bare HTTP→RPC echo (issue 2)


def main() -> dict:
    with running_suite() as suite:
        email, password = create_admin(suite)
        token = login(suite.base_url, email, password)
        with nameko_processes(suite, "bench.bare:BareHttp", "bench.bare:EchoService", "bench.bare:HttpRpcEcho") as urls:
            bare_url = urls["bench.bare:BareHttp"] + "/ping"
            echo_url = urls["bench.bare:HttpRpcEcho"] + "/echo"
            wait_http(bare_url)
            wait_http(echo_url)
            wait_until_quiet()
            pids = urls.pids
            identity_db = f" {suite.db_prefix}identity "  # its PostgreSQL backends

            def gateway_side():
                return [suite.processes["gateway"].pid, suite.processes["identity"].pid, *pids_matching(identity_db)]

            me_target = Target("gateway GET /v1/me", f"{suite.base_url}/v1/me",
                               headers={"Authorization": f"Bearer {token}"}, serving=gateway_side)
            bare_target = Target("bare nameko HTTP", bare_url, serving=lambda: [pids["bench.bare:BareHttp"]])
            echo_target = Target("bare HTTP→RPC echo", echo_url,
                                 serving=lambda: [pids["bench.bare:HttpRpcEcho"], pids["bench.bare:EchoService"]])
            me, bare, echo = measure_interleaved([me_target, bare_target, echo_target])
        # Last, and without warm-up: the logins still queued when a warm-up's connections close would keep
        # identity busy (argon2) well into the measurement.
        logged_in = measure("gateway POST /v1/auth/login", f"{suite.base_url}/v1/auth/login", method="POST",
                            headers={"Content-Type": "application/json"},
                            body=json.dumps({"email": email, "password": password}), warmup=0,
                            serving=gateway_side)
    print_table("gateway vs bare nameko", [me, logged_in, bare, echo], [
        ("GET /v1/me vs bare HTTP→RPC echo", me, echo, TARGET),
        ("GET /v1/me vs bare HTTP", me, bare, None),
        ("bare HTTP→RPC echo vs bare HTTP", echo, bare, None),
    ])
    if me.cpu_ms and echo.cpu_ms:
        print(f"CPU per request, GET /v1/me vs bare HTTP→RPC echo: {me.cpu_ms / echo.cpu_ms:.1f}x"
              f" ({me.cpu_ms:.2f} vs {echo.cpu_ms:.2f} ms; RabbitMQ not counted)\n")
    return {"me": me, "login": logged_in, "bare_http": bare, "http_rpc_echo": echo}
