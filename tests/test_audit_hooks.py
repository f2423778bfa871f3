"""The audit's agreement limit, fed by lineage agreement."""

from __future__ import annotations

import pytest

from lineage.audit.policy import load_policy
from tests.conftest import write_jsonl


@pytest.mark.parametrize("bob_x, fails", [(0, False), (50, True)])
def test_min_agreement_limit(repo, tmp_path, bob_x, fails):
    lines = []
    for i in range(35):
        asset = f"img{i:03d}.jpg"
        lines.append(
            {
                "asset_id": asset,
                "class_name": "car",
                "bbox": [0, 0, 10, 10],
                "annotator_id": "alice",
                "guideline_version": "v1",
            }
        )
        lines.append(
            {
                "asset_id": asset,
                "class_name": "car",
                "bbox": [bob_x, 0, 10, 10],
                "annotator_id": "bob",
                "guideline_version": "v1",
            }
        )
    repo.import_("native", write_jsonl(tmp_path / "two.jsonl", lines))
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("[policy]\nrequired_passes = 0\n[policy.limits]\nmin_agreement = 0.5\n")
    result = repo.audit(None, policy=policy_file)
    status = {c.id: c for c in result.checks}["limits.agreement"]
    assert status.status == ("fail" if fails else "pass")
    found = [f for f in result.findings if f.check == "limits.agreement"]
    if fails:
        assert found[0].count == 2 and found[0].examples == ["alice", "bob"]
    else:
        assert found == []
    assert load_policy(policy_file).min_agreement == 0.5
