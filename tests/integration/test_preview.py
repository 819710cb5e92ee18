"""distctl preview and distd --check-config on the seeds and the example config."""

import json
import os

from conftest import ROOT, SEED_CAPITAL, SEED_MENTOUGOU, run

EXAMPLE_CONF = ROOT / "conf" / "distd.conf"


def preview(binaries, path, *extra, conf=EXAMPLE_CONF):
    return run([binaries["distctl"], "-c", conf, "preview", path, *extra])


def test_capital_seed_resolves_completely(binaries):
    r = preview(binaries, SEED_CAPITAL, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["title"] == "首都精神文明建设情况简报"
    assert d["issue_no"] == 29 and d["total_issue_no"] == 2138
    assert d["issuer"] == "首都精神文明办"
    assert d["date"] == "2020-06-12"
    assert d["classification"] is None and d["urgency"] is None
    assert [t["tier"] for t in d["tiers"]] == ["报", "送", "发"]
    assert [u["text"] for u in d["tiers"][0]["units"]] == [
        "中央文明办", "首都文明委主任、副主任", "市委、市人大、市政府、市政协"]
    assert d["unresolved"] == []
    assert all(u["resolved"] for t in d["tiers"] for u in t["units"])
    first = d["tiers"][0]["units"][0]
    assert first["recipients"] == [
        {"name": "中央文明办", "address": "office@wmb.example.test"}]
    assert d["subject"] == "首都精神文明建设情况简报 第29期"
    addresses = [r["address"] for r in d["recipients"]]
    assert len(addresses) == len(set(addresses)) == 41
    assert d["hold_reason"] is None


def test_mentougou_seed_resolves_completely(binaries):
    r = preview(binaries, SEED_MENTOUGOU, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["title"] == "门头沟区创建全国文明城市工作快报"
    assert d["issue_no"] == 439 and d["total_issue_no"] is None
    assert d["date"] == "2020-06-30"
    assert [t["tier"] for t in d["tiers"]] == ["报", "发"]
    assert d["unresolved"] == []
    names = [t["name"] for u in d["tiers"][0]["units"] for t in u["recipients"]]
    assert names == ["首都文明办", "区委", "区人大", "区政府", "区政协领导同志"]


def test_preview_text(binaries):
    r = preview(binaries, SEED_MENTOUGOU)
    assert r.returncode == 0, r.stderr
    assert "第439期" in r.stdout
    assert "ok 全区各单位主要领导、创城工作主管领导、信息员" in r.stdout
    assert "8 recipients, everything resolved" in r.stdout


def test_unresolved_exits_3(binaries, tmp_path):
    issue = tmp_path / "issue.txt"
    issue.write_text("工作简报\n第1期\n某办公室\n2021年1月1日\n\n正文。\n\n"
                     "报：中央文明办，不存在的单位。\n", encoding="utf-8")
    r = preview(binaries, issue, "--json")
    assert r.returncode == 3
    d = json.loads(r.stdout)
    assert d["unresolved"] == ["报: 不存在的单位"]
    assert "1 unresolved unit" in d["hold_reason"]
    r = preview(binaries, issue)
    assert r.returncode == 3
    assert "?? 不存在的单位" in r.stdout


def test_classified_is_flagged(binaries, tmp_path):
    issue = tmp_path / "secret.txt"
    issue.write_text("机密★1年\n工作简报\n第1期\n2021年1月1日\n\n正文。\n\n报：中央文明办\n",
                     encoding="utf-8")
    r = preview(binaries, issue)
    assert r.returncode == 3
    assert "REFUSED" in r.stdout


def test_preview_errors(binaries, tmp_path):
    r = preview(binaries, tmp_path / "missing.txt")
    assert r.returncode == 1
    assert "missing.txt" in r.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xef\xbb\xbf\xb1\xa8")
    r = preview(binaries, bad)
    assert r.returncode == 1
    assert "byte 3" in r.stderr
    r = run([binaries["distctl"], "-c", EXAMPLE_CONF, "preview"])
    assert r.returncode == 2
    r = preview(binaries, SEED_CAPITAL, conf=tmp_path / "none.conf")
    assert r.returncode == 1
    assert "none.conf: cannot read" in r.stderr


def test_distd_conf_env_is_used(binaries):
    env = dict(os.environ, DISTD_CONF=str(EXAMPLE_CONF))
    r = run([binaries["distctl"], "preview", SEED_MENTOUGOU], env=env)
    assert r.returncode == 0, r.stderr


def write_config(tmp_path, body, secret_mode=0o600):
    secret = tmp_path / "smtp.secret"
    secret.write_text("pw\n")
    secret.chmod(secret_mode)
    conf = tmp_path / "distd.conf"
    conf.write_text(body.replace("@SECRET@", str(secret)), encoding="utf-8")
    return conf


GOOD = """
smtp = { url = "smtps://127.0.0.1:2465"; username = "u@example.test";
         password_file = "@SECRET@"; };
sender = { from = "办公室 <bulletin@example.test>"; };
recipients = ( { name = "中央文明办"; address = "office@wmb.example.test"; } );
"""


def test_check_config_ok(binaries, tmp_path):
    conf = write_config(tmp_path, GOOD)
    r = run([binaries["distd"], "-c", conf, "--check-config"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: ")
    assert "recipients: 1 with 1 addresses" in r.stdout
    assert "报(to" in r.stdout and "发(bcc" in r.stdout
    assert "pw" not in r.stdout.split()  # the secret never shows


def test_check_config_reports_every_error(binaries, tmp_path):
    conf = write_config(tmp_path, GOOD.replace("office@wmb.example.test", "office@")
                        + 'groups = ( { name = "组"; members = [ "无名" ]; } );\n'
                        + "retry = { min_backoff = 0; };\n", secret_mode=0o644)
    r = run([binaries["distd"], "-c", conf, "--check-config"])
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert any(":5: recipients[0].address[0]: 'office@' is not an e-mail address" in l
               for l in lines), r.stderr
    assert any("smtp.password_file" in l and "chmod 600" in l for l in lines)
    assert any("retry.min_backoff: 0 is out of range" in l for l in lines)
    assert any("'无名' is neither a recipient nor a group" in l for l in lines)
    assert len(lines) >= 4


def test_check_config_example_needs_its_secret(binaries):
    r = run([binaries["distd"], "-c", EXAMPLE_CONF, "--check-config"])
    assert r.returncode == 1
    assert "smtp.password_file: /etc/distd/smtp.secret" in r.stderr


def test_footer_is_located(binaries):
    r = preview(binaries, SEED_CAPITAL, "--json")
    d = json.loads(r.stdout)
    assert d["footer"] == {"line": 39, "starts_with": "fields"}
    assert d["classification_mark"] is None and d["unrecognised_mark"] is None
    assert d["verdict"] == "send"
    r = preview(binaries, SEED_MENTOUGOU)
    assert "版记 from line 45 (starts with fields)" in r.stdout


def test_body_paragraph_adds_no_recipient(binaries, tmp_path):
    issue = tmp_path / "issue.txt"
    issue.write_text("工作简报\n第1期\n某办公室\n2021年1月1日\n\n正文。\n\n"
                     "报：不存在的单位、另一个单位\n\n这一段正文引用了上面那一行。\n\n"
                     "---\n\n报：中央文明办\n", encoding="utf-8")
    r = preview(binaries, issue, "--json")
    assert r.returncode == 0, r.stdout
    d = json.loads(r.stdout)
    assert [u["text"] for t in d["tiers"] for u in t["units"]] == ["中央文明办"]
    assert "报：不存在的单位" in d["body"]
    assert d["footer"]["starts_with"] == "rule"


def test_unknown_fields_and_soft_break_shown(binaries, tmp_path):
    issue = tmp_path / "issue.txt"
    issue.write_text("工作简报\n第1期\n某办公室\n2021年1月1日\n\n正文。\n\n"
                     "送：首都文明委委员，市委、市政府各部委办局\n各总公司、高等院校。\n"
                     "制作：王五  审核：李四\n", encoding="utf-8")
    r = preview(binaries, issue, "--json")
    assert r.returncode == 0, r.stdout
    d = json.loads(r.stdout)
    unit = d["tiers"][0]["units"][1]
    assert unit["text"] == "市委、市政府各部委办局各总公司、高等院校"
    assert unit["resolved"] and unit["reading"] == "lines"
    assert unit["sides"] == ["市委、市政府各部委办局", "各总公司、高等院校"]
    assert {"key": "制作", "value": "王五", "known": False, "line": 10} in d["field_list"]
    r = preview(binaries, issue)
    assert "read as its lines apart" in r.stdout
    assert "(field, label not known)" in r.stdout


def test_encodings_without_bom(binaries, tmp_path):
    text = SEED_MENTOUGOU.read_text(encoding="utf-8")
    for enc in ("utf-16-le", "utf-16-be"):
        f = tmp_path / f"{enc}.txt"
        f.write_bytes(text.encode(enc))
        r = preview(binaries, f, "--json")
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        assert d["title"] == "门头沟区创建全国文明城市工作快报"
        assert d["unresolved"] == []
    big5 = tmp_path / "big5.txt"
    big5.write_bytes(("台北市政府工作簡報\n第 3 期\n台北市政府秘書處\n2021年3月4日\n\n"
                      "本期報導各區推動文明城市創建的進展，並說明下一步的工作重點。\n\n"
                      "抄送：中央文明辦、市政府各局處。\n").encode("big5"))
    r = preview(binaries, big5, "--json")
    d = json.loads(r.stdout)
    assert d["title"] == "台北市政府工作簡報"
    assert [u["text"] for u in d["tiers"][0]["units"]] == ["中央文明辦、市政府各局處"]
    unsure = tmp_path / "unsure.txt"
    unsure.write_bytes(b"\x81\x40")
    r = preview(binaries, unsure)
    assert r.returncode == 1
    assert "cannot be told apart" in r.stderr
