"""distctl preview on the seed bulletins (no configuration needed)."""

import json

from conftest import SEED_CAPITAL, SEED_MENTOUGOU, run


def preview(binaries, path, *extra):
    return run([binaries["distctl"], "-c", "/nonexistent/distd.conf",
                "preview", path, *extra])


def test_preview_json_capital(binaries):
    r = preview(binaries, SEED_CAPITAL, "--json")
    assert r.returncode in (0, 3), r.stderr
    d = json.loads(r.stdout)
    assert d["title"] == "首都精神文明建设情况简报"
    assert d["issue_no"] == 29
    assert d["total_issue_no"] == 2138
    assert d["issuer"] == "首都精神文明办"
    assert d["date"] == "2020-06-12"
    assert d["classification"] is None and d["urgency"] is None
    assert [t["tier"] for t in d["tiers"]] == ["报", "送", "发"]
    assert [u["text"] for u in d["tiers"][0]["units"]] == [
        "中央文明办", "首都文明委主任、副主任", "市委、市人大、市政府、市政协"]


def test_preview_json_mentougou(binaries):
    r = preview(binaries, SEED_MENTOUGOU, "--json")
    assert r.returncode in (0, 3), r.stderr
    d = json.loads(r.stdout)
    assert d["title"] == "门头沟区创建全国文明城市工作快报"
    assert d["issue_no"] == 439 and d["total_issue_no"] is None
    assert d["date"] == "2020-06-30"
    assert [t["tier"] for t in d["tiers"]] == ["报", "发"]


def test_preview_text(binaries):
    r = preview(binaries, SEED_MENTOUGOU)
    assert r.returncode in (0, 3), r.stderr
    assert "第439期" in r.stdout
    assert "全区各单位主要领导、创城工作主管领导、信息员" in r.stdout


def test_preview_errors(binaries, tmp_path):
    r = preview(binaries, tmp_path / "missing.txt")
    assert r.returncode == 1
    assert "missing.txt" in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xef\xbb\xbf\xb1\xa8")
    r = preview(binaries, bad)
    assert r.returncode == 1
    assert "byte 3" in r.stderr
    r = run([binaries["distctl"], "preview"])
    assert r.returncode == 2
