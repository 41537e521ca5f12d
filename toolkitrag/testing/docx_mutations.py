"""Mutations of real .docx files for fuzzing the upload path (bench/fuzz_docx.py, and a bounded
run in the test suite): damage the zip container, or the XML inside it, the ways broken tools,
truncated transfers and hostile uploaders do."""

import io
import random
import re
import zipfile

TAG = re.compile(rb"<[^<>]{1,200}>")
ATTRIBUTE_VALUE = re.compile(rb'="[^"]{0,40}"')
HOSTILE_VALUES = [
    b'="-1"',
    b'="99999999999999999999"',
    b'="100000"',
    b'=""',
    b'="NaN"',
    b'="&#0;"',
    b'="\xff"',
]
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
)
INTERESTING = ("word/document.xml", "word/styles.xml", "word/numbering.xml", "[Content_Types].xml",
               "_rels/.rels", "word/_rels/document.xml.rels", "word/footnotes.xml")  # fmt: skip


def _flip_bytes(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 20)):
        buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    return bytes(buffer)


def _xml_mutations(xml: bytes, rng: random.Random) -> tuple[str, bytes]:
    tags = list(TAG.finditer(xml))
    kind = rng.choice(
        ["flip", "truncate", "drop-tag", "duplicate", "attribute", "deep-nesting", "entities", "swap-tags"]
    )
    if kind == "flip" or not tags:
        return "xml-flip", _flip_bytes(xml, rng)
    if kind == "truncate":
        return "xml-truncate", xml[: rng.randrange(len(xml))]
    if kind == "drop-tag":
        tag = rng.choice(tags)
        return "xml-drop-tag", xml[: tag.start()] + xml[tag.end() :]
    if kind == "duplicate":
        start = rng.randrange(len(xml))
        piece = xml[start : start + rng.randint(1, 2000)]
        return "xml-duplicate", xml[:start] + piece * rng.randint(2, 50) + xml[start:]
    if kind == "attribute":
        values = list(ATTRIBUTE_VALUE.finditer(xml))
        if not values:
            return "xml-flip", _flip_bytes(xml, rng)
        for value in sorted(rng.sample(values, min(len(values), 10)), key=lambda m: -m.start()):
            xml = xml[: value.start()] + rng.choice(HOSTILE_VALUES) + xml[value.end() :]
        return "xml-attribute", xml
    if kind == "deep-nesting":
        body = xml.find(b"<w:body>")
        if body < 0:
            return "xml-flip", _flip_bytes(xml, rng)
        depth = rng.choice([100, 1000, 10000])
        nest = b"<w:sdt><w:sdtContent>" * depth + b"<w:p><w:r><w:t>deep</w:t></w:r></w:p>"
        nest += b"</w:sdtContent></w:sdt>" * depth
        at = body + len(b"<w:body>")
        return f"xml-nesting-{depth}", xml[:at] + nest + xml[at:]
    if kind == "entities":
        start = xml.find(b"?>") + 2 if xml.startswith(b"<?xml") else 0
        return "xml-entity-expansion", BILLION_LAUGHS + xml[start:].replace(b"</w:t>", b"&lol4;</w:t>", 5)
    a, b = rng.sample(tags, 2) if len(tags) > 1 else (tags[0], tags[0])
    first, second = sorted([a, b], key=lambda m: m.start())
    if first.end() > second.start():
        return "xml-flip", _flip_bytes(xml, rng)
    swapped = (xml[: first.start()] + second.group() + xml[first.end() : second.start()] + first.group()
               + xml[second.end() :])  # fmt: skip
    return "xml-swap-tags", swapped


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random mutation of a .docx: (what was done, the damaged bytes)."""
    kind = rng.choice(["container-flip", "container-truncate", "member", "member", "member", "drop-member"])
    if kind == "container-flip":
        return kind, _flip_bytes(data, rng)
    if kind == "container-truncate":
        return kind, data[: rng.randrange(len(data))]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as source:
            members = {info.filename: source.read(info) for info in source.infolist()}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):  # some test files are not zips
        return "container-flip", _flip_bytes(data, rng)
    names = [n for n in INTERESTING if n in members] or list(members)
    target = rng.choice(names)
    if kind == "drop-member":
        del members[target]
        what = f"drop {target}"
    else:
        what, members[target] = _xml_mutations(members[target], rng)
        what = f"{what} in {target}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as damaged:
        for name, content in members.items():
            damaged.writestr(name, content)
    return what, out.getvalue()
