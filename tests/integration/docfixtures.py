"""Document fixtures made from the text seeds, as an office would have them.

make_docx(text_path, out_path): a Word document (python-docx, Debian
python3-docx): one paragraph per line of text (but the masthead's issuer
and date: one paragraph, a line break between), Markdown decoration turned
into styles; in the 版记, consecutive field lines (责编, 电话 …) one paragraph
with line breaks, and the tiers (报/送/发 …) a one-column table, a tier a
row, as offices lay it out.

make_ofd(text_path, out_path): an OFD (GB/T 33190-2016) written per the
standard's structure: OFD.xml → Doc_0/Document.xml → Pages/Page_N/Content.xml,
a font in Doc_0/PublicRes.xml, one TextObject per line whose words are
TextCodes placed with X/Y and DeltaX (the spaces between words are gaps, not
characters, as producers write them).

make_docx and make_ofd take an optional header: lines printed at the top
of every page (a Word page header; an OFD template page in the
background), where offices put the 密级 or repeat the series title.

Also a command line: docfixtures.py docx|ofd TEXT OUT [HEADER] (exit 77
when python-docx is missing, so that a caller can skip).
"""

import re
import sys
import zipfile
from xml.sax.saxutils import escape, quoteattr

# Tier labels as the parser knows them (bulletin.c's default table).
TIER = re.compile(r"^\s*(报|抄报|呈报|报送|主报|送|抄送|分送|主送|发|分发|下发|抄发)\s*[:：]")
FIELD = re.compile(r"^\s*(责任编辑|责编|主编|编辑|核稿|编校|核签|审核|审稿|签发|校对|联系人|"
                   r"联系电话|电话|传真|电子邮箱|邮箱|电子信箱|E-mail|Email|地址|邮编)\s*[:：]")
DATE = re.compile(r"^\s*\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*$")
RULE = re.compile(r"^\s*(-{3,}|_{3,}|\*{3,}|—{2,})\s*$")


def _lines(text_path):
    with open(text_path, encoding="utf-8") as f:
        return f.read().split("\n")


def _plain(line):
    """The line without its Markdown decoration, and what it was."""
    s = line.strip()
    level = 0
    while s.startswith("#"):
        level += 1
        s = s[1:]
    s = s.strip()
    bold = s.startswith("**") and "**" in s[2:]
    return s.replace("**", ""), level, bold


def _split(lines):
    """(body lines, 版记 lines), blank lines and rules dropped.

    The 版记 is the run of tier and field lines at the end of the text
    (rules and blank lines in between do not end it).
    """
    kept = [l for l in lines if l.strip() and not RULE.match(l)]
    start = len(kept)
    while start > 0 and (TIER.match(kept[start - 1]) or FIELD.match(kept[start - 1])):
        start -= 1
    return kept[:start], [l.strip() for l in kept[start:]]


def _runs(footer):
    """The 版记 in runs of consecutive field lines and tier lines, in order:
    [(is_tier, [line, ...]), ...]."""
    runs = []
    for line in footer:
        tier = bool(TIER.match(line))
        if runs and runs[-1][0] == tier:
            runs[-1][1].append(line)
        else:
            runs.append((tier, [line]))
    return runs


def make_docx(text_path, out_path, header=None):
    import docx  # python3-docx
    from docx.shared import Pt

    body, footer = _split(_lines(text_path))
    d = docx.Document()
    if header:
        h = d.sections[0].header
        h.is_linked_to_previous = False
        for i, line in enumerate(header.split("\n")):
            p = h.paragraphs[0] if i == 0 else h.add_paragraph()
            p.text = line
    # the masthead's issuer and date: one paragraph, a line break between
    date = next((i for i, l in enumerate(body[:8]) if DATE.match(l)), None)
    for n, line in enumerate(body):
        if date and n == date - 1:
            p = d.add_paragraph()
            p.add_run(line.strip())
            p.add_run().add_break()
            p.add_run(body[date].strip())
            continue
        if date and n == date:
            continue
        s, level, bold = _plain(line)
        if level:
            d.add_heading(s, level=min(level, 3))
            continue
        p = d.add_paragraph()
        if bold:
            # the lead sentence bold, the rest plain, as the seeds mark it
            head, _, rest = line.strip().partition("**")[2].partition("**")
            p.add_run(head).bold = True
            if rest:
                p.add_run(rest)
        else:
            p.add_run(s)
    for tier, run in _runs(footer):
        if tier:
            t = d.add_table(rows=len(run), cols=1)
            t.style = "Table Grid"
            for row, line in zip(t.rows, run):
                row.cells[0].text = line
        else:
            # one paragraph, the entries kept apart by line breaks
            p = d.add_paragraph()
            for i, line in enumerate(run):
                if i:
                    p.add_run().add_break()
                p.add_run(line).font.size = Pt(10)
    d.save(out_path)


OFD_NS = "http://www.ofdspec.org/2016"
SIZE = 4.2          # mm: a little over 四号
LINE = 7.5          # mm between baselines
LEFT = 20.0
TOP = 25.0
PAGE_W, PAGE_H = 210.0, 297.0
LINES_PER_PAGE = 20


def _advance(ch):
    return SIZE * (0.5 if ord(ch) < 0x80 else 1.0)


def _text_object(oid, y, line):
    """One line: a TextCode per word, each word's glyphs spaced by DeltaX."""
    codes = []
    x = 0.0
    for word in line.split(" "):
        if not word:
            x += SIZE
            continue
        deltas = " ".join("%.2f" % _advance(c) for c in word[:-1])
        attrs = 'X="%.2f" Y="%.2f"' % (x, SIZE)
        if deltas:
            attrs += ' DeltaX="%s"' % deltas
        codes.append("<ofd:TextCode %s>%s</ofd:TextCode>" % (attrs, escape(word)))
        x += sum(_advance(c) for c in word) + SIZE   # a gap of one glyph
    width = max(x, SIZE)
    return ('<ofd:TextObject ID="%d" Boundary="%.2f %.2f %.2f %.2f" Font="2" '
            'Size="%.2f"><ofd:FillColor Value="0 0 0"/>%s</ofd:TextObject>'
            % (oid, LEFT, y - SIZE, width, SIZE * 1.4, SIZE, "".join(codes)))


def make_ofd(text_path, out_path, header=None):
    body, footer = _split(_lines(text_path))
    lines = [_plain(l)[0] for l in body] + footer
    pages = [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    # the 版记 is not split from its last lines over a page break
    if len(pages) > 1 and len(pages[-1]) < len(footer):
        move = len(footer) - len(pages[-1])
        pages[-1] = pages[-2][-move:] + pages[-1]
        pages[-2] = pages[-2][:-move]

    oid = 10
    files = {}
    page_refs = []
    template = tpl_ref = ""
    if header:
        # a template page every page names, in the background (the default)
        objs = []
        for i, line in enumerate(header.split("\n")):
            objs.append(_text_object(oid, 10.0 + i * LINE, line))
            oid += 1
        files["Doc_0/Tpls/Tpl_0/Content.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ofd:Page xmlns:ofd="%s"><ofd:Content><ofd:Layer ID="%d">%s'
            '</ofd:Layer></ofd:Content></ofd:Page>' % (OFD_NS, oid, "".join(objs)))
        template = ('<ofd:TemplatePage ID="%d" BaseLoc="Tpls/Tpl_0/Content.xml"/>'
                    % (oid + 1))
        tpl_ref = '<ofd:Template TemplateID="%d"/>' % (oid + 1)
        oid += 2
    for n, plines in enumerate(pages):
        objs = []
        for i, line in enumerate(plines):
            objs.append(_text_object(oid, TOP + i * LINE, line))
            oid += 1
        files["Doc_0/Pages/Page_%d/Content.xml" % n] = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ofd:Page xmlns:ofd="%s">%s<ofd:Content><ofd:Layer ID="%d">%s'
            '</ofd:Layer></ofd:Content></ofd:Page>' % (OFD_NS, tpl_ref, oid, "".join(objs)))
        oid += 1
        page_refs.append('<ofd:Page ID="%d" BaseLoc=%s/>'
                         % (oid, quoteattr("Pages/Page_%d/Content.xml" % n)))
        oid += 1
    files["OFD.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ofd:OFD xmlns:ofd="%s" Version="1.0" DocType="OFD"><ofd:DocBody>'
        '<ofd:DocInfo><ofd:DocID>6b8b4567327b23c6643c986966334873</ofd:DocID>'
        '<ofd:Creator>distd tests</ofd:Creator>'
        '<ofd:CreationDate>2020-06-30</ofd:CreationDate></ofd:DocInfo>'
        '<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>' % OFD_NS)
    files["Doc_0/Document.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ofd:Document xmlns:ofd="%s"><ofd:CommonData>'
        '<ofd:MaxUnitID>%d</ofd:MaxUnitID>'
        '<ofd:PageArea><ofd:PhysicalBox>0 0 %.0f %.0f</ofd:PhysicalBox></ofd:PageArea>'
        '<ofd:PublicRes>PublicRes.xml</ofd:PublicRes>%s</ofd:CommonData>'
        '<ofd:Pages>%s</ofd:Pages></ofd:Document>'
        % (OFD_NS, oid, PAGE_W, PAGE_H, template, "".join(page_refs)))
    files["Doc_0/PublicRes.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ofd:Res xmlns:ofd="%s" BaseLoc="Res"><ofd:Fonts>'
        '<ofd:Font ID="2" FontName="宋体" FamilyName="宋体"/>'
        '</ofd:Fonts></ofd:Res>' % OFD_NS)
    with zipfile.ZipFile(out_path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OFD.xml", files.pop("OFD.xml"))
        for name in sorted(files):
            z.writestr(name, files[name])


def main(argv):
    if len(argv) not in (4, 5) or argv[1] not in ("docx", "ofd"):
        print("usage: docfixtures.py docx|ofd TEXT OUT [HEADER]", file=sys.stderr)
        return 2
    if argv[1] == "docx":
        try:
            import docx  # noqa: F401
        except ImportError:
            print("python-docx is missing (Debian python3-docx)", file=sys.stderr)
            return 77
        make_docx(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    else:
        make_ofd(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
