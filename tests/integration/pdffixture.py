"""PDF fixtures made from the seed bulletins, as an office would export them.

make_pdf(text_path, out_path): the seed's lines laid out on A4 pages with
cairo + pango in Noto CJK (embedded, with a ToUnicode map, so that the text
can be extracted): red masthead, rules drawn as lines, headings and **bold**
as bold type, paragraphs wrapped with a two-character indent and no blank
line between them (as a word processor prints them), page breaks where the
page is full and a page number "— N —" at the foot of each page; with
header, that line at the top left of each page, above the masthead (a page
header, where offices print the 密级). In the
版记, a line holding two entries ("编校：… 核签：…") is set as two columns,
the second flush right, as offices do with a tab.

make_scanned_pdf(text_path, out_path): the same pages drawn into images and
painted on the PDF pages: no text layer, as a scanner makes them.

make_encrypted_pdf(out_path, password): a one-page PDF encrypted with the
standard security handler (RC4, 40 bit, revision 2) under a user password.
No Debian tool installed here encrypts PDFs (qpdf is not installed), so it
is written by hand per PDF 1.7 §7.6.3 (algorithms 2, 3 and 4).

Command line (for the C unit tests):
    pdffixture.py pdf TEXT OUT | scanned TEXT OUT | encrypted OUT [PASSWORD]
                  | restricted OUT   (encrypted, empty user password)
"""

import hashlib
import re
import sys

import cairo
import gi

gi.require_version("Pango", "1.0")
gi.require_version("PangoCairo", "1.0")
from gi.repository import Pango, PangoCairo  # noqa: E402

A4 = (595.276, 841.89)          # points
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 79.0, 72.0, 90.0
FONT = "Noto Serif CJK SC"
BODY_SIZE = 15
LINE_GAP = 1.45                 # line height / font size
RED = (0.8, 0.0, 0.0)


def _escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _markup(s):
    """**bold** → <b>bold</b>; everything else escaped."""
    parts = s.split("**")
    out = []
    for i, p in enumerate(parts):
        p = _escape(p)
        out.append(f"<b>{p}</b>" if i % 2 and i < len(parts) - 1 else p)
    return "".join(out)


class _Pager:
    """Where the lines go: a cairo context per page and a cursor on it."""

    def __init__(self, surface_ctx, scanned=False, dpi=100, header=None):
        self.pdf = surface_ctx
        self.scanned = scanned
        self.dpi = dpi
        self.header = header
        self.page = 0
        self.ctx = None
        self._start()

    def _start(self):
        self.page += 1
        self.y = MARGIN_TOP
        if self.scanned:
            scale = self.dpi / 72.0
            self.image = cairo.ImageSurface(cairo.FORMAT_RGB24,
                                            int(A4[0] * scale), int(A4[1] * scale))
            self.ctx = cairo.Context(self.image)
            self.ctx.set_source_rgb(1, 1, 1)
            self.ctx.paint()
            self.ctx.scale(scale, scale)
        else:
            self.ctx = self.pdf
        if self.header:
            ctx = self.ctx
            ctx.save()
            ctx.set_source_rgb(0, 0, 0)
            layout = _layout(ctx, self.header, BODY_SIZE - 2, A4[0] - 2 * MARGIN_X,
                             Pango.Alignment.LEFT)
            ctx.move_to(MARGIN_X, MARGIN_TOP - 40)
            PangoCairo.show_layout(ctx, layout)
            ctx.restore()

    def finish_page(self):
        ctx = self.ctx
        ctx.save()
        ctx.set_source_rgb(0, 0, 0)
        layout = _layout(ctx, f"— {self.page} —", BODY_SIZE - 1, A4[0] - 2 * MARGIN_X,
                         Pango.Alignment.CENTER)
        ctx.move_to(MARGIN_X, A4[1] - MARGIN_BOTTOM + 30)
        PangoCairo.show_layout(ctx, layout)
        ctx.restore()
        if self.scanned:
            self.image.flush()
            self.pdf.save()
            self.pdf.scale(72.0 / self.dpi, 72.0 / self.dpi)
            self.pdf.set_source_surface(self.image, 0, 0)
            self.pdf.paint()
            self.pdf.restore()
        self.pdf.show_page()

    def need(self, height):
        if self.y + height > A4[1] - MARGIN_BOTTOM:
            self.finish_page()
            self._start()


def _layout(ctx, text, size, width, align, bold=False, markup=False, indent=0):
    layout = PangoCairo.create_layout(ctx)
    desc = Pango.FontDescription.from_string(f"{FONT} {size}")
    if bold:
        desc.set_weight(Pango.Weight.BOLD)
    layout.set_font_description(desc)
    layout.set_width(int(width * Pango.SCALE))
    layout.set_wrap(Pango.WrapMode.WORD_CHAR)
    layout.set_alignment(align)
    layout.set_indent(int(indent * Pango.SCALE))
    if markup:
        layout.set_markup(_markup(text), -1)
    else:
        layout.set_text(text, -1)
    return layout


def _paragraph(pager, text, size=BODY_SIZE, align=Pango.Alignment.LEFT, bold=False,
               color=(0, 0, 0), indent=0):
    """Sets one paragraph line by line, breaking the page where it is full."""
    width = A4[0] - 2 * MARGIN_X
    step = size * LINE_GAP
    layout = _layout(pager.ctx, text, size, width, align, bold, markup=True,
                     indent=indent)
    it = layout.get_iter()
    while True:
        pager.need(step)
        ctx = pager.ctx
        _, logical = it.get_line_extents()
        baseline = it.get_baseline() / Pango.SCALE
        top = logical.y / Pango.SCALE
        ctx.save()
        ctx.set_source_rgb(*color)
        ctx.move_to(MARGIN_X + logical.x / Pango.SCALE, pager.y + (baseline - top))
        PangoCairo.show_layout_line(ctx, it.get_line_readonly())
        ctx.restore()
        pager.y += step
        if not it.next_line():
            break


def _two_columns(pager, left, right, size=BODY_SIZE):
    """One line, left entry at the margin and right entry flush right."""
    step = size * LINE_GAP
    pager.need(step)
    width = A4[0] - 2 * MARGIN_X
    for text, align in ((left, Pango.Alignment.LEFT), (right, Pango.Alignment.RIGHT)):
        layout = _layout(pager.ctx, text, size, width, align, markup=True)
        pager.ctx.move_to(MARGIN_X, pager.y)
        PangoCairo.show_layout(pager.ctx, layout)
    pager.y += step


def _rule(pager, color=(0, 0, 0), width=1.0):
    pager.need(12)
    ctx = pager.ctx
    ctx.save()
    ctx.set_source_rgb(*color)
    ctx.set_line_width(width)
    ctx.move_to(MARGIN_X, pager.y + 6)
    ctx.line_to(A4[0] - MARGIN_X, pager.y + 6)
    ctx.stroke()
    ctx.restore()
    pager.y += 12


# "编校：史佳怡 核签：李争三": two short "label：value" entries on one line
_TWO_ENTRIES = re.compile(r"^(\S{1,6}[：:]\S+)\s+(\S{1,6}[：:]\S+)$")


_DATE = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日")


def _render(text, pager):
    lines = text.splitlines()
    # the masthead: up to the date line near the top; a red rule closes it
    masthead_end = 0
    for i, line in enumerate(lines[:16]):
        if _DATE.search(line):
            masthead_end = i + 1
            break
    red_rule_done = False
    title_done = False
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue        # paragraphs are not separated by blank lines in print
        if i >= masthead_end and not red_rule_done:
            red_rule_done = True
            _rule(pager, RED, 2.0)
            if line == "---":
                continue
        if line == "---":
            _rule(pager, (0, 0, 0), 0.8)
        elif i < masthead_end and not title_done:
            title_done = True
            _paragraph(pager, line.lstrip("# "), size=22, align=Pango.Alignment.CENTER,
                       bold=True, color=RED)
        elif i < masthead_end:
            _paragraph(pager, line, align=Pango.Alignment.CENTER)
        elif line.startswith("#"):
            _paragraph(pager, line.lstrip("# "), bold=True,
                       align=Pango.Alignment.CENTER if line.startswith("### ")
                       else Pango.Alignment.LEFT)
        elif _TWO_ENTRIES.match(line):
            m = _TWO_ENTRIES.match(line)
            _two_columns(pager, m.group(1), m.group(2))
        else:
            _paragraph(pager, line, indent=2 * BODY_SIZE)
    pager.finish_page()


def _read(text_path):
    with open(text_path, encoding="utf-8") as f:
        return f.read()


def make_pdf(text_path, out_path, header=None):
    """The seed at text_path as a text PDF at out_path, header atop each page."""
    surface = cairo.PDFSurface(str(out_path), *A4)
    surface.set_metadata(cairo.PDFMetadata.TITLE, "bulletin")
    _render(_read(text_path), _Pager(cairo.Context(surface), header=header))
    surface.finish()


def make_scanned_pdf(text_path, out_path):
    """The same pages as images only: no text layer."""
    surface = cairo.PDFSurface(str(out_path), *A4)
    _render(_read(text_path), _Pager(cairo.Context(surface), scanned=True))
    surface.finish()


# ---- a hand-made encrypted PDF ---------------------------------------------

_PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")


def _rc4(key, data):
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray()
    i = j = 0
    for b in data:
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out.append(b ^ s[(s[i] + s[j]) & 0xFF])
    return bytes(out)


def make_encrypted_pdf(out_path, password="secret"):
    """One page saying "encrypted bulletin", openable only with password;
    with password "" anyone opens it (permissions set by an owner only)."""
    def padded(pw):
        return (pw.encode("latin-1") + _PAD)[:32]

    perms = -4
    file_id = hashlib.md5(b"distd encrypted fixture").digest()
    owner = _rc4(hashlib.md5(padded(password + "-owner")).digest()[:5], padded(password))
    key = hashlib.md5(padded(password) + owner + perms.to_bytes(4, "little", signed=True)
                      + file_id).digest()[:5]
    user = _rc4(key, _PAD)

    def obj_key(num):
        return hashlib.md5(key + num.to_bytes(3, "little") + b"\0\0").digest()[:10]

    content = _rc4(obj_key(4), b"BT /F1 24 Tf 72 720 Td (encrypted bulletin) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <" + owner.hex().encode() + b"> /U <" +
        user.hex().encode() + b"> /P %d >>" % perms,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 6 0 R /ID [<%s> <%s>] >>\n"
            b"startxref\n%d\n%%%%EOF\n" % (len(objects) + 1, file_id.hex().encode(),
                                          file_id.hex().encode(), xref))
    with open(out_path, "wb") as f:
        f.write(out)


def main(argv):
    if len(argv) == 4 and argv[1] == "pdf":
        make_pdf(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "scanned":
        make_scanned_pdf(argv[2], argv[3])
    elif len(argv) in (3, 4) and argv[1] == "encrypted":
        make_encrypted_pdf(argv[2], *argv[3:])
    elif len(argv) == 3 and argv[1] == "restricted":
        make_encrypted_pdf(argv[2], "")     # an owner password only
    else:
        sys.stderr.write(__doc__.split("Command line")[1])
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
