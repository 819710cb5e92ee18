"""The document fixtures (docfixtures.py) are what they claim to be.

That their extracted text parses to the tiers and fields of the text seed
is checked in C, where the extractors and the parser are:
tests/unit/test_extract_docx.c and test_extract_ofd.c (test_seed_*), which
call docfixtures.py themselves; the last test here runs those programs.
"""

import re
import subprocess
import zipfile
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD, ROOT, SEED_CAPITAL, SEED_MENTOUGOU
import docfixtures

SEEDS = [SEED_CAPITAL, SEED_MENTOUGOU]
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
OFD = "{http://www.ofdspec.org/2016}"


def seed_lines(seed):
    """The seed's lines as a document shows them: no blank lines, no rules,
    no Markdown decoration."""
    out = []
    for line in seed.read_text(encoding="utf-8").split("\n"):
        if not line.strip() or docfixtures.RULE.match(line):
            continue
        out.append(docfixtures._plain(line)[0])
    return out


@pytest.mark.parametrize("seed", SEEDS, ids=["capital", "mentougou"])
def test_docx_has_the_footer_in_a_table(seed, tmp_path):
    docx = pytest.importorskip("docx")
    out = tmp_path / "issue.docx"
    docfixtures.make_docx(seed, out)

    d = docx.Document(str(out))
    tiers = [l.strip() for l in seed_lines(seed) if docfixtures.TIER.match(l)]
    assert tiers, "the seed has tiers"
    assert len(d.tables) == 1
    rows = [[c.text for c in r.cells] for r in d.tables[0].rows]
    assert rows == [[t] for t in tiers]
    # after the body, before nothing but field lines
    assert d.element.body.index(d.tables[0]._tbl) > len(d.paragraphs) // 2

    with zipfile.ZipFile(out) as z:
        body = ET.fromstring(z.read("word/document.xml")).find(W + "body")
    # issuer and date: one paragraph, a line break between
    assert any(p.findall(".//" + W + "br") for p in body.iter(W + "p"))
    # every line of text is there, in order
    text = "".join(t.text or "" for t in body.iter(W + "t"))
    pos = 0
    for line in seed_lines(seed):
        i = text.find(line.strip(), pos)
        assert i >= 0, line
        pos = i + len(line.strip())


@pytest.mark.parametrize("seed", SEEDS, ids=["capital", "mentougou"])
def test_ofd_follows_the_standard_structure(seed, tmp_path):
    out = tmp_path / "issue.ofd"
    docfixtures.make_ofd(seed, out)

    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert names[0] == "OFD.xml"
        root = ET.fromstring(z.read("OFD.xml"))
        assert root.tag == OFD + "OFD"
        docroot = root.find(OFD + "DocBody/" + OFD + "DocRoot").text
        assert docroot == "Doc_0/Document.xml"
        doc = ET.fromstring(z.read(docroot))
        res = doc.find(OFD + "CommonData/" + OFD + "PublicRes").text
        fonts = ET.fromstring(z.read("Doc_0/" + res)).findall(".//" + OFD + "Font")
        assert [f.get("ID") for f in fonts] == ["2"]
        pages = doc.findall(OFD + "Pages/" + OFD + "Page")
        assert len(pages) >= 2, "more than one page, so that '\\f' is exercised"

        lines = []
        for p in pages:
            page = ET.fromstring(z.read("Doc_0/" + p.get("BaseLoc")))
            for obj in page.iter(OFD + "TextObject"):
                assert obj.get("Font") == "2" and float(obj.get("Size")) > 0
                codes = obj.findall(OFD + "TextCode")
                assert codes and all(c.get("X") and c.get("Y") for c in codes)
                # a word a TextCode: the spaces are gaps, never characters
                assert all(" " not in c.text for c in codes)
                lines.append(" ".join(c.text for c in codes))
    want = [re.sub(" +", " ", l.strip()) for l in seed_lines(seed)]
    assert lines == want


@pytest.mark.parametrize("prog", ["test_extract_docx", "test_extract_ofd"])
def test_extracted_fixtures_parse_as_the_seeds(prog):
    """The C side: extract_docx/extract_ofd on these fixtures, then
    bulletin_parse, compared with the text seed's tiers and fields."""
    binary = BUILD / "tests" / prog
    if not binary.exists():
        pytest.skip(f"{binary} is missing: run make unit first")
    r = subprocess.run([str(binary)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    for seed in ("capital", "mentougou"):
        assert re.search(r"\[\s+OK \] test_seed_%s_" % seed, out), out
