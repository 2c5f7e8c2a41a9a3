"""serve's worker keeps a signed checkpoint of the audit chain in the instance folder, moving it forward."""

from __future__ import annotations

import json
import shutil

from tests.processes import wait_until


def test_serve_writes_a_signed_checkpoint_that_follows_the_chain(served, federation, tmp_path):
    path = served.folder / "instance" / "audit-checkpoint.json"
    assert wait_until(path.exists, 20), served.log_tail()

    def sequence() -> int:
        try:
            return json.loads(path.read_text())["sequence"]
        except (OSError, ValueError):  # (never half a file: it is replaced in one step; but be patient)
            return -1

    head = served.http("GET", "/api/v1/audit-events/head", federation.tokens["operator"]).json()["sequence"]
    assert wait_until(lambda: sequence() >= head, 10)
    before = sequence()
    answer = served.http(
        "PATCH",
        f"/api/v1/organisations/{federation.ids['region']}",
        federation.tokens["operator"],
        json={"description": "Checkpoint"},
        headers={"If-Match": "*"},
    )
    assert answer.status_code == 200, answer.text
    assert wait_until(lambda: sequence() > before, 10), served.log_tail()
    copy = tmp_path / "copy.json"
    shutil.copy(path, copy)
    verified = served.cli("audit", "verify", "--checkpoint", str(copy))  # signed by the service, and reached
    assert "audit chain intact" in verified.stdout
    assert "audit checkpoint" in served.log_tail(400)  # each one is logged too
