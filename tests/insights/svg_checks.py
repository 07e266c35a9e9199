"""Reading the insights' SVG back in tests: parse it, list its texts, shapes and moves."""

import re
import xml.etree.ElementTree as ET

from insights.services import svg

NS = {"s": svg.SVG_NS}
XSS = "<script>alert(1)</script>"
NASTY = "Zebra & \"Grévy's\" <b>\x07"  # markup, quotes, an accent, a control character


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{{{svg.SVG_NS}}}svg"
    assert float(root.get("width").removesuffix("pt")) > 200
    assert float(root.get("height").removesuffix("pt")) > 50  # an empty plot: 0.8 inch
    return root


def texts(root) -> list[str]:
    return ["".join(t.itertext()) for t in root.iterfind(".//s:text", NS)]


def placed_texts(root) -> list[tuple[float, float, str]]:
    """(x, y, text) of every text element."""
    return [(float(t.get("x")), float(t.get("y")), "".join(t.itertext()))
            for t in root.iterfind(".//s:text", NS)]


def boxes(root, fill) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) of the rectangles (M x y h w v h h -w Z) filled with ``fill``."""
    found = []
    for path in root.iterfind(".//s:path", NS):
        m = re.fullmatch(r"M(\S+) (\S+)h(\S+)v(\S+)h\S+Z", path.get("d"))
        if m and path.get("fill") == fill:
            found.append(tuple(float(v) for v in m.groups()))
    return found


def axes_box(root) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the (first) axes' box: the spines."""
    for path in root.iterfind(".//s:path", NS):
        m = re.fullmatch(r"M(\S+) (\S+)H(\S+)V(\S+)H\S+Z", path.get("d"))
        if m and path.get("stroke") == svg.INK:
            return tuple(float(v) for v in m.groups())
    raise AssertionError("no axes box")


def start(d: str) -> tuple[float, float]:
    """Where a path starts (its first M)."""
    x, y = re.match(r"M([-\d.]+) ([-\d.]+)", d).groups()
    return float(x), float(y)


def moves(d: str) -> list[tuple[str, float]]:
    """A path of absolute M, H and V moves as [(command, value), ...] (M gives x then y)."""
    out = []
    for command, args in re.findall(r"([MHVZ])([^MHVZ]*)", d):
        if command == "M":
            x, y = args.split()
            out += [("M", float(x)), ("M", float(y))]
        elif command != "Z":
            out.append((command, float(args)))
    return out
