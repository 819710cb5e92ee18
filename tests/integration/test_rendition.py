"""The issue as issued (issue 12): what recipients see and what their mail systems accept.

Both seed bulletins go through the real daemon, with the example configuration,
to the TLS test relay; the received bytes are read back with Python's email
package and, where it is installed, scored by a local SpamAssassin.
Set DISTD_RENDITION_DUMP=DIR to keep the received messages and HTML parts
(for looking at them in a browser)."""

import email
import email.policy
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import SEED_CAPITAL, SEED_MENTOUGOU, wait_for
from test_delivery import demo_conf

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def deliver_seeds(smtp_server, distd):
    """Both seeds through distd with conf/distd.conf; returns {seed: raw bytes}."""
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("capital.txt", SEED_CAPITAL.read_bytes())
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(("delivered",), count=49)
    wait_for(lambda: len(server.messages) == 2, what="both issues")
    got = {}
    for m in server.messages:
        subject = m.parsed()["Subject"]
        got["000" if "首都精神文明建设情况简报" in subject else "003"] = m.data
    assert set(got) == {"000", "003"}, list(got)
    dump = os.environ.get("DISTD_RENDITION_DUMP")
    if dump:
        os.makedirs(dump, exist_ok=True)
        for seed, data in got.items():
            pathlib.Path(dump, f"{seed}.eml").write_bytes(data)
            html = parse(data).get_body(("html",)).get_content()
            pathlib.Path(dump, f"{seed}.html").write_text(html, encoding="utf-8")
    return got


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def spamassassin_score(data, home):
    """Local SpamAssassin score of data: no network, no daemon, a private home.

    The system's rules and plugin loaders are read, nothing is written outside
    home (no Bayes, no auto-whitelist, no DNS)."""
    home.mkdir(exist_ok=True)
    prefs = home / "user_prefs"
    prefs.write_text("use_bayes 0\nuse_auto_whitelist 0\nuse_txrep 0\n"
                     "dns_available no\nskip_rbl_checks 1\n")
    env = dict(os.environ, HOME=str(home))
    out = subprocess.run(["spamassassin", "-L", "-t", "-p", str(prefs)],
                         input=data, capture_output=True, env=env, timeout=120)
    assert out.returncode in (0, 1), out.stderr.decode(errors="replace")
    status = email.message_from_bytes(out.stdout, policy=email.policy.compat32)
    m = re.search(r"score=(-?[\d.]+).*?tests=(.*)", " ".join(
        str(status["X-Spam-Status"]).split()), re.S)
    assert m, out.stdout[:2000]
    return float(m.group(1)), m.group(2)


def decoded_parts(msg):
    """Every text part's decoded content, and the defects of every part."""
    texts, defects = [], list(msg.defects)
    for part in msg.walk():
        defects += part.defects
        if part.get_content_maintype() == "text":
            texts.append(part.get_content())
    return texts, defects


def strict_phrase(raw_header):
    """The display name of a one-mailbox header, decoded the RFC 2047 way.

    Python 3.11's address parser keeps the white space between two adjacent
    encoded words of a display name ("门头 沟区"); RFC 2047 6.2 says it is
    ignored, and mail clients do. Decode the phrase by the RFC instead."""
    phrase = raw_header.split("<")[0].strip()
    return str(email.header.make_header(email.header.decode_header(phrase)))


def raw_header(data, name):
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    m = re.search(rf"^{name}:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M | re.I)
    return m.group(1).replace("\r\n", "").strip() if m else None


CAPITAL = {
    "masthead": ["首都精神文明建设情况简报", "第29期", "总第2138期", "首都精神文明办",
                 "2020年6月12日"],
    "footer": ["报：中央文明办,首都文明委主任、副主任,市委、市人大、市政府、市政协。",
               "送：首都文明委委员,市委、市政府各部委办局,各总公司、高等院校,市级群众团体。",
               "发：各区委书记、区长、宣传部长,各区文明办,有关新闻单位。",
               "责编：梅雪峰", "核稿：田文松", "电话：55569506", "传真：55569505",
               "邮箱：jswmzhxctc@163.com"],
    "body": ["大兴区齐心协力 吹响全国文明城区创建冲锋号", "重点调度机制", "(延庆区文明办)"],
    "bold": ["部门联动，凝聚合力。", "常态管理,狠抓落实。", "守土有责,创建有方。"],
}
MENTOUGOU = {
    "masthead": ["门头沟区创建全国文明城市工作快报", "第439期",
                 "门头沟区创建全国文明城市总指挥部办公室", "2020年6月30日"],
    "footer": ["编校：史佳怡", "核签：李争三",
               "报：首都文明办、区委、区人大、区政府、区政协领导同志",
               "发：全区各单位主要领导、创城工作主管领导、信息员",
               "电子邮箱：mtgccbxcz@bjmtg.gov.cn", "电话：69822006"],
    "body": ["【指挥调度】", "志拔头筹夺桂冠的浓厚氛围", "擦拭宣传栏20个、报箱6个。"],
    "bold": ["区教委：", "潭柘寺镇：", "清水镇：", "东辛房街道：", "军庄镇：",
             "妙峰山镇：", "龙泉镇：", "永定镇："],
}


def test_seeds_arrive_whole_in_both_parts(smtp_server, distd):
    got = deliver_seeds(smtp_server, distd)
    for seed, want in (("000", CAPITAL), ("003", MENTOUGOU)):
        data = got[seed]
        msg = parse(data)
        texts, defects = decoded_parts(msg)
        assert defects == [], (seed, defects)
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        for part, name in ((text, "text"), (html, "html")):
            for w in want["masthead"] + want["body"] + want["footer"]:
                assert w in part, (seed, name, w)
            # the document's order: masthead, body, 版记
            assert part.index(want["masthead"][0]) < part.index(want["body"][0]) \
                < part.index(want["body"][-1]) < part.index(want["footer"][-1]), (seed, name)
        for t in texts + [str(v) for v in msg.values()]:
            assert "**" not in t and "##" not in t, seed
        # bold lead-ins: <strong> in HTML (the writer may start the element's
        # text on a new line), plain in the text
        for b in want["bold"]:
            assert re.search(r"<strong>\n?" + re.escape(b) + "</strong>", html), (seed, b)
        assert "<style" not in html and "<img" not in html and "src=" not in html
        assert re.search(r'<h1 style="[^"]*color:#c8161d', html)
        assert "Auto-Submitted" not in msg
        # every RFC 2047 encoded word within the 75 characters the RFC allows
        words = ENCODED_WORD.findall(data)
        assert words and max(len(w) for w in words) <= 75, seed
    assert "部门联动，凝聚合力。各部门齐抓共管" in parse(got["000"]).get_body(("plain",)).get_content()


def test_mentougou_goes_out_as_its_office(smtp_server, distd):
    got = deliver_seeds(smtp_server, distd)
    mtg, capital = parse(got["003"]), parse(got["000"])
    assert mtg["From"].addresses[0].addr_spec == "kuaibao@mentougou.example.test"
    assert strict_phrase(raw_header(got["003"], "From")) == "门头沟区创建全国文明城市总指挥部办公室"
    assert mtg["Reply-To"].addresses[0].addr_spec == "bianjibu@mentougou.example.test"
    assert strict_phrase(raw_header(got["003"], "Reply-To")) == "门头沟区快报编辑部"
    assert mtg["Subject"] == "门头沟区创建全国文明城市工作快报 第439期"
    # the other series still goes out as sender.from, without a Reply-To
    assert capital["From"].addresses[0].addr_spec == "bulletin@example.test"
    assert capital["From"].addresses[0].display_name == "首都精神文明办"
    assert capital["Reply-To"] is None


def test_spamassassin_scores_each_seed_below_one(smtp_server, distd, tmp_path):
    if shutil.which("spamassassin") is None:
        pytest.skip("spamassassin is not installed (Debian package spamassassin, "
                    "scripts/install-deps installs it)")
    got = deliver_seeds(smtp_server, distd)
    for seed, data in sorted(got.items()):
        score, tests = spamassassin_score(data, tmp_path / "sa")
        assert score < 1.0, (seed, score, tests)
        assert "HTML_OBFUSCATE" not in tests, (seed, tests)


ISSUE = ("{title}\n\n第 7 期\n\n某某办公室\n\n2021年3月4日\n\n---\n\n"
         "正文第一段，说明情况。**部门联动，凝聚合力。**各部门齐抓共管。\n\n报：单位0\n")


def test_attachment_names_in_both_encodings(smtp_server, distd, tmp_path):
    server = smtp_server()
    d = distd(server, recipients=[("单位0", "u0@example.test")])
    d.start()
    names = ["附件一：门头沟区 创建全国文明城市（工作）名单，2020年第二季度汇总表.pdf",
             "统计 表（第二版）.xlsx", "report 2021.pdf"]
    evil = "名单\r\nBcc: evil@example.test.pdf"
    folder = tmp_path / "第7期"
    folder.mkdir()
    (folder / "简报.txt").write_text(ISSUE.format(title="工作简报"), encoding="utf-8")
    for i, n in enumerate(names + [evil]):
        (folder / n).write_bytes(b"%PDF-1.4\n" + bytes([i]) * 100)
    shutil.move(str(folder), str(d.outbox / "第7期"))
    d.wait_states(("delivered",), count=1)
    data = server.messages[0].data
    msg = parse(data)
    _, defects = decoded_parts(msg)
    assert defects == []
    # a CR/LF in a file name never makes a header line, here or in a part
    assert not re.search(rb"^bcc:", data, re.M | re.I)
    assert server.messages[0].rcpt_tos == ["u0@example.test"]
    got = {}
    for part in msg.iter_attachments():
        # RFC 2231: Content-Disposition filename*
        by_2231 = part.get_filename()
        # RFC 2047: Content-Type name="=?UTF-8?B?…?=", decoded the way old readers do
        raw = part.get_param("name", header="content-type")
        raw = email.utils.collapse_rfc2231_value(raw)
        by_2047 = str(email.header.make_header(email.header.decode_header(raw)))
        assert by_2231 == by_2047, (by_2231, by_2047)
        got[by_2231] = part.get_content()
    assert set(got) == set(names) | {"名单 Bcc: evil@example.test.pdf"}
    assert got[names[0]] == b"%PDF-1.4\n" + bytes([0]) * 100
    # the Chinese names really are in both forms on the wire
    assert b"filename*" in data and b'name="=?UTF-8?B?' in data
    words = ENCODED_WORD.findall(data)
    assert max(len(w) for w in words) <= 75


def test_long_chinese_subject_folds_into_valid_words(smtp_server, distd):
    server = smtp_server()
    d = distd(server, recipients=[("单位0", "u0@example.test")])
    d.start()
    title = "关于开展创建全国文明城市百日冲刺暨接诉即办比学赶超擂台赛情况的工作简报"
    d.drop("issue.txt", ISSUE.format(title=title))
    d.wait_states(("delivered",), count=1)
    data = server.messages[0].data
    assert parse(data)["Subject"] == f"{title} 第7期"
    subject = raw_header(data, "Subject")
    words = subject.split()
    assert len(words) >= 3
    for w in words:
        assert ENCODED_WORD.fullmatch(w.encode()), w
        assert len(w) <= 75, w
    head = data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78


def test_series_admin_gets_its_failure_report(smtp_server, distd):
    """A failed recipient of seed 003: the report goes to the 门头沟区 series'
    admin, auto-generated, as plain text (distd's own mail is not Markdown)."""
    server = smtp_server()
    server.handler.rcpt_replies["office@qw.mentougou.example.test"] = [
        "550 5.1.1 <office@qw.mentougou.example.test>: no such user"]
    d = distd(server)
    demo_conf(d, server)
    d.start()
    d.drop("mentougou.txt", SEED_MENTOUGOU.read_bytes())
    d.wait_states(count=8)
    report = wait_for(lambda: [m for m in server.messages
                               if m.rcpt_tos == ["postmaster@mentougou.example.test"]],
                      what="the report to the series' admin")
    msg = parse(report[0].data)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["To"].addresses[0].addr_spec == "postmaster@mentougou.example.test"
    assert msg.get_content_type() == "text/plain"
    assert "office@qw.mentougou.example.test" in msg.get_content()
    assert not [m for m in server.messages if "postmaster@example.test" in m.rcpt_tos]
