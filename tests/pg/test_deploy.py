"""docs/deploy.md's nginx configuration (deploy/nginx/mailpolicy.conf, as shipped) in front of two
replicas on one PostgreSQL database: traffic reaches both, survives one being killed, and
mailpolicy's own answers (a 413 for a body over its limit) pass through unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailpolicy.db import Database
from tests.support.api import SETTINGS_PATH, Tenant, make_tenant
from tests.support.postgres import Cluster
from tests.support.servers import Replica, free_port, replicas

SHIPPED = Path(__file__).parents[2] / "deploy" / "nginx" / "mailpolicy.conf"


def nginx_config(directory: Path, ports: tuple[int, int], listen: int) -> Path:
    """The shipped file with this test's ports, inside the minimal main file nginx needs."""
    site = SHIPPED.read_text()
    for documented, actual in (("8001", ports[0]), ("8002", ports[1]), ("8080", listen)):
        assert f"127.0.0.1:{documented}" in site
        site = site.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{actual}")
    (directory / "mailpolicy.conf").write_text(site)
    main = directory / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    main.write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format upstreams '$status $upstream_addr';
    access_log {directory}/access.log upstreams;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/mailpolicy.conf;
}}
"""
    )
    return main


@pytest.fixture
def deployment(
    tmp_path: Path, cluster: Cluster
) -> Iterator[tuple[str, Tenant, tuple[Replica, ...], Path]]:
    url = cluster.create_database("deploy", template="template_pg_tests")
    database = Database(url)
    tenant = make_tenant(database, "deployed")
    database.dispose()
    listen = free_port()
    limited = {"rate_limit": "1200"}  # as deployed: its headers must pass through nginx
    with replicas(
        Replica(tmp_path / "a", url, workers=2, settings=limited),
        Replica(tmp_path / "b", url, settings=limited),
    ) as both:
        config = nginx_config(tmp_path, (both[0].port, both[1].port), listen)
        nginx = subprocess.Popen(
            ["nginx", "-c", str(config), "-p", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{listen}"
            deadline = time.monotonic() + 15
            while True:
                assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
            yield base, tenant, both, tmp_path
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
            if nginx.stderr:
                nginx.stderr.close()


def test_traffic_through_nginx_reaches_every_replica_and_survives_one_dying(
    deployment: tuple[str, Tenant, tuple[Replica, ...], Path],
) -> None:
    base, tenant, (a, b), directory = deployment
    senders = base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders"
    with httpx.Client(timeout=30) as client:
        made = []
        for n in range(40):
            body = {"pattern": f"n{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
            response = client.post(senders, json=body, headers=tenant.write)
            assert response.status_code == 201, response.text
            assert response.headers["ratelimit-policy"]  # mailpolicy's own headers pass through
            made.append(response.json()["result"]["id"])
        for entry_id in made:
            assert client.get(f"{senders}/{entry_id}", headers=tenant.read).status_code == 200
        served_by = {
            line.split()[1] for line in (directory / "access.log").read_text().splitlines()
        }
        assert {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"} <= served_by

        a.kill()
        for n in range(20):  # writes and reads alike go on, through the other replica
            body = {"pattern": f"after{n}.example", "pattern_type": "DOMAIN", "is_regex": False}
            assert client.post(senders, json=body, headers=tenant.write).status_code == 201
            listed = client.get(senders, headers=tenant.read, params={"per_page": 100})
            assert listed.status_code == 200
        assert listed.json()["result_info"]["total_count"] == 60

        too_big = client.post(
            senders,
            content=b'{"pattern": "' + b"x" * 1_500_000 + b'"}',
            headers={**tenant.write, "Content-Type": "application/json"},
        )
        assert too_big.status_code == 413
        # The v4 error, word for word as a replica gives it, not nginx's HTML page.
        direct = httpx.post(
            b.base + SETTINGS_PATH.format(account=tenant.id) + "/block_senders",
            content=b"x" * 1_500_000,
            headers={**tenant.write, "Content-Type": "application/json"},
        )
        assert direct.status_code == 413
        assert too_big.json() == direct.json()
        assert too_big.headers["x-should-retry"] == "false"
