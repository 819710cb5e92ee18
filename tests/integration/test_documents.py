"""Issues dropped as documents (issue 18): .docx, .pdf and .ofd made from the
two seeds parse to exactly the tiers and fields of the .txt seed, are delivered
to the same recipients with the original attached byte for byte, and hostile
or unreadable documents are refused to rejected/ while distd carries on."""

import io
import json
import re
import zipfile

import pytest

from conftest import SEED_CAPITAL, SEED_MENTOUGOU, run, wait_for
from test_delivery import demo_conf
from test_preview import EXAMPLE_CONF

import docfixtures  # noqa: E402  (ex-zip: the seeds as .docx and .ofd)
import pdffixture  # noqa: E402  (ex-pdf: the seeds as PDF, scanned, encrypted)

SEEDS = {"capital": SEED_CAPITAL, "mentougou": SEED_MENTOUGOU}
FORMATS = ("docx", "pdf", "ofd")
MAKE = {"docx": docfixtures.make_docx, "pdf": pdffixture.make_pdf,
        "ofd": docfixtures.make_ofd}
# what a document and its .txt seed must agree on: every parsed and routed
# field but the line numbers and the body's layout (a PDF wraps its lines)
SAME = ("title", "issue_no", "total_issue_no", "issuer", "date", "classification",
        "classification_period", "classification_mark", "unrecognised_mark",
        "verdict", "internal", "urgency", "fields", "from_series", "tiers",
        "recipients", "unresolved", "hold_reason", "subject")


def make(fmt, seed, folder):
    path = folder / f"{seed}.{fmt}"
    MAKE[fmt](str(SEEDS[seed]), str(path))
    return path


def preview(binaries, path, *extra):
    return run([binaries["distctl"], "-c", EXAMPLE_CONF, "preview", path, *extra])


def preview_json(binaries, path):
    r = preview(binaries, path, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def squeeze(s):
    return re.sub(r"\s+", "", s)


def blocks(msg):
    """The HTML part's paragraphs and headings: the body's structure."""
    html = msg.get_body(("html",)).get_content()
    return len(re.findall(r"<(?:p|h[1-6])[\s>]", html))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_preview_matches_text_seed(binaries, tmp_path, seed, fmt):
    doc = make(fmt, seed, tmp_path)
    want = preview_json(binaries, SEEDS[seed])
    got = preview_json(binaries, doc)
    for key in SAME:
        assert got[key] == want[key], f"{key}: {got[key]!r} != {want[key]!r}"
    assert [(f["key"], f["value"], f["known"]) for f in got["field_list"]] == \
        [(f["key"], f["value"], f["known"]) for f in want["field_list"]]
    assert got["source"]["format"] == fmt and got["source"]["text_bytes"] > 0
    assert got["attachments"] == [{"name": doc.name, "bytes": doc.stat().st_size}]
    assert want["attachments"] == [] and want["source"]["format"] == "text"
    # the text report says the same and names the attachment
    r = preview(binaries, doc)
    assert r.returncode == 0, r.stderr
    assert f"{doc.name} ({doc.stat().st_size} bytes" in r.stdout
    assert f"{fmt}: " in r.stdout and "bytes of text extracted" in r.stdout


def attachments(msg):
    return [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]


def test_documents_delivered_like_text(smtp_server, distd, tmp_path):
    """Each seed as .txt and as the three documents: the same recipients, the
    document attached unchanged, the body rendered from the extracted text."""
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    made = {}
    for seed in SEEDS:
        d.drop(f"{seed}.txt", SEEDS[seed].read_bytes())
        for fmt in FORMATS:
            path = make(fmt, seed, tmp_path)
            made[path.name] = path.read_bytes()
            d.drop(path.name, made[path.name])
    # states are by address: the eight issues share 49 of them
    wait_for(lambda: len(server.messages) == 8 and d.counts()["delivered"] == 4 * (41 + 8),
             timeout=120, what="eight issues delivered")
    assert sorted(p.name for p in d.rejected.iterdir()) == [], d.stderr_text()

    by_source = {}
    for m in server.messages:
        msg = m.parsed()
        att = attachments(msg)
        name = att[0][0] if att else None
        by_source.setdefault(name, []).append((m, msg, att))
    for seed in SEEDS:
        text_msgs = [x for x in by_source[None] if x[1]["Subject"] ==
                     preview_json(d.binaries, SEEDS[seed])["subject"]]
        assert len(text_msgs) == 1
        m_txt, msg_txt, _ = text_msgs[0]
        body_txt = msg_txt.get_body(("plain",)).get_content()
        counts = {"txt": blocks(msg_txt)}
        for fmt in FORMATS:
            name = f"{seed}.{fmt}"
            (m, msg, att), = by_source[name]
            assert sorted(m.rcpt_tos) == sorted(m_txt.rcpt_tos), name
            assert msg["Subject"] == msg_txt["Subject"]
            assert str(msg["To"]) == str(msg_txt["To"]) and str(msg["Cc"]) == str(msg_txt["Cc"])
            assert att == [(name, made[name])], name       # byte-identical
            body = msg.get_body(("plain",)).get_content()
            # rendered from the extracted text: its opening and its 版记
            first = squeeze(body_txt)[:60]
            assert first in squeeze(body), (name, body[:300])
            assert squeeze(body).count("报：") == 1
            counts[fmt] = blocks(msg)
        # paragraphs and headings stay apart: not one wall of text
        assert all(abs(counts[f] - counts["txt"]) <= 2 for f in FORMATS), (seed, counts)


def test_folder_with_docx_main_and_pdf_attachment(smtp_server, distd, tmp_path):
    """No text file: the one document not named 附件… is the issue."""
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    d.start()
    folder = tmp_path / "第29期"
    folder.mkdir()
    docx = make("docx", "capital", folder)
    # attachments are named 附件… as official documents number them
    pdf = folder / "附件1.pdf"
    pdffixture.make_pdf(str(SEED_MENTOUGOU), str(pdf))
    want = preview_json(d.binaries, SEED_CAPITAL)
    got = preview_json(d.binaries, folder)
    assert got["tiers"] == want["tiers"] and got["subject"] == want["subject"]
    assert got["source"]["file"] == "capital.docx" and got["source"]["folder"]
    assert [a["name"] for a in got["attachments"]] == ["capital.docx", "附件1.pdf"]
    docx_bytes, pdf_bytes = docx.read_bytes(), pdf.read_bytes()
    tmp = d.outbox / ".第29期.part"
    folder.rename(tmp)
    tmp.rename(d.outbox / "第29期")
    d.wait_states(("delivered",), count=41)
    assert len(server.messages) == 1
    m = server.messages[0]
    msg = m.parsed()
    assert msg["Subject"] == want["subject"]
    assert sorted(m.rcpt_tos) == sorted(r["address"] for r in want["recipients"])
    assert attachments(msg) == [("capital.docx", docx_bytes), ("附件1.pdf", pdf_bytes)]


# ---- refused documents -------------------------------------------------------

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                 'package/2006/content-types"><Override PartName="/word/document.xml" '
                 'ContentType="application/vnd.openxmlformats-officedocument.'
                 'wordprocessingml.document.main+xml"/></Types>')


def docx_with(document_xml, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("word/document.xml", document_xml)
    return buf.getvalue()


def zip_bomb():
    """64 MiB of one paragraph's spaces in a few dozen KiB: over every bound."""
    pad = b" " * (64 << 20)
    return docx_with(f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body><w:p><w:r>'
                     f'<w:t>简报</w:t></w:r></w:p>'.encode() + pad + b"</w:body></w:document>")


def billion_laughs():
    ents = ['<!ENTITY l0 "哈哈哈哈哈哈哈哈哈哈">'] + [
        f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    return docx_with(f'<?xml version="1.0"?><!DOCTYPE w:document [{"".join(ents)}]>'
                     f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>&l9;</w:t>'
                     '</w:r></w:p></w:body></w:document>')


def deep_xml(levels=10000):
    """Elements nested far past any document's depth, stored uncompressed so
    that the depth bound, not the zip-bomb ratio, is what refuses it."""
    return docx_with(f'<?xml version="1.0"?><w:document xmlns:w="{W}"><w:body>'
                     + "<w:p>" * levels + "</w:p>" * levels + "</w:body></w:document>",
                     zipfile.ZIP_STORED)


def external_entity():
    """An entity that would read a file of the machine into the issue's text."""
    return docx_with('<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM '
                     f'"file:///etc/passwd">]><w:document xmlns:w="{W}"><w:body><w:p><w:r>'
                     '<w:t>简报&x;</w:t></w:r></w:p></w:body></w:document>')


def hostile(tmp_path):
    """name → bytes of what must be refused, and a word its reason must say."""
    scanned = tmp_path / "scanned.pdf"
    pdffixture.make_scanned_pdf(str(SEED_MENTOUGOU), str(scanned))
    encrypted = tmp_path / "encrypted.pdf"
    pdffixture.make_encrypted_pdf(str(encrypted))
    good = make("docx", "mentougou", tmp_path)
    return {
        "legacy.doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096), ".docx"),
        "scanned.pdf": (scanned.read_bytes(), "text"),
        "encrypted.pdf": (encrypted.read_bytes(), "password"),
        "bomb.docx": (zip_bomb(), ""),
        "laughs.docx": (billion_laughs(), ""),
        "truncated.docx": (good.read_bytes()[: good.stat().st_size // 2], ""),
        "deep.docx": (deep_xml(), "deep"),
        "entity.docx": (external_entity(), ""),
    }


def test_hostile_documents_refused_and_distd_carries_on(smtp_server, distd, tmp_path):
    bad = hostile(tmp_path)
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    # preview says why, with a non-zero exit
    (tmp_path / "preview").mkdir()
    for name, (data, word) in bad.items():
        p = tmp_path / "preview" / name
        p.write_bytes(data)
        r = preview(d.binaries, p)
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        assert "refused" in r.stderr and word in r.stderr, (name, r.stderr)
    d.start()
    for name, (data, word) in bad.items():
        d.drop(name, data)
    for name, (data, word) in bad.items():
        reason = d.rejected / f"{name}.reason"
        wait_for(reason.exists, timeout=60, what=f"{name} rejected")
        text = reason.read_text(encoding="utf-8")
        assert word in text and "nothing was sent" in text, (name, text)
        assert "root:" not in text, (name, text)     # no file of the machine read
        assert (d.rejected / name).read_bytes() == data    # moved, unchanged
    assert d.proc.poll() is None, d.stderr_text()
    assert d.ctl("status").returncode in (0, 3)
    assert d.issues() == []
    # a good issue dropped afterwards is delivered
    good = make("docx", "mentougou", tmp_path / "preview")
    d.drop("good.docx", good.read_bytes())
    d.wait_states(("delivered",), count=8)
    assert len(server.messages) == 1
    assert attachments(server.messages[0].parsed()) == [("good.docx", good.read_bytes())]


def test_two_documents_without_text_refused(binaries, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    make("docx", "capital", folder)
    make("pdf", "capital", folder)
    r = preview(binaries, folder)
    assert r.returncode == 1
    assert "capital.docx, capital.pdf" in r.stderr and "Choose" in r.stderr


# ---- classification printed in the page header --------------------------------

def test_mark_in_page_header_refused(smtp_server, distd, tmp_path):
    """秘密★ printed only in the page header (Word header, OFD template page,
    the top of a PDF page) reaches the masthead: refused, nothing sent; a
    header that repeats the series title changes nothing."""
    server = smtp_server()
    d = distd(server)
    demo_conf(d, server)
    docs = {}
    for fmt in FORMATS:
        path = tmp_path / f"secret.{fmt}"
        MAKE[fmt](str(SEED_CAPITAL), str(path), "秘密★1年")
        docs[path.name] = path.read_bytes()
        # preview says so too, exiting 3 (would not be sent)
        r = preview(d.binaries, path, "--json")
        assert r.returncode == 3, (fmt, r.stderr)
        got = json.loads(r.stdout)
        assert got["classification"] == "秘密" and got["classification_period"] == "1年", fmt
    for fmt in ("docx", "ofd"):
        path = tmp_path / f"benign.{fmt}"
        MAKE[fmt](str(SEED_CAPITAL), str(path), "首都精神文明建设情况简报")
        got, want = preview_json(d.binaries, path), preview_json(d.binaries, SEED_CAPITAL)
        for key in SAME:
            assert got[key] == want[key], f"{fmt} {key}: {got[key]!r} != {want[key]!r}"
    d.start()
    for name, data in docs.items():
        d.drop(name, data)
    for name, data in docs.items():
        reason = d.rejected / f"{name}.reason"
        wait_for(reason.exists, timeout=60, what=f"{name} rejected")
        text = reason.read_text(encoding="utf-8")
        assert "秘密" in text and "never sent" in text, (name, text)
        assert (d.rejected / name).read_bytes() == data
    assert d.issues() == [] and server.messages == []
