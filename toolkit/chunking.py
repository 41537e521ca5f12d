"""Split parsed blocks into chunks by section, each carrying its heading path.

Rules: a chunk never mixes two sections, except that tiny neighbouring subsections of one
parent merge under that parent (each keeps its own heading line in the text); long sections
are packed to about CHUNK_TARGET_TOKENS with a small overlap; long paragraphs split at
sentence ends; tables split by rows with the header repeated in every piece.
"""

import hashlib
import re
from dataclasses import dataclass, field

from toolkit.docx_parser import Block, render_table

TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|\w+|[^\w\s]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")
HEADING_SEPARATOR = " > "


def content_hash(text: str) -> str:
    """What identifies a text: the embedding cache's key and a section's fingerprint."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate close to BPE counts: words, long words twice, CJK per character."""
    return sum(1 + len(token) // 8 for token in TOKEN.findall(text))


@dataclass
class Section:
    heading_path: list[str]
    blocks: list[Block] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(estimate_tokens(block.text) for block in self.blocks)


@dataclass
class ChunkDraft:
    heading_path: list[str]
    text: str
    token_count: int
    block_start: int
    block_end: int

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)

    def embedding_text(self) -> str:
        """What is embedded and indexed: the heading path, then the text."""
        return f"{self.heading}\n\n{self.text}" if self.heading_path else self.text


@dataclass
class _Unit:
    text: str
    tokens: int
    block: int
    splittable_overlap: bool = True  # table pieces are never repeated as overlap


def split_into_sections(blocks: list[Block]) -> list[Section]:
    sections = [Section(heading_path=[])]
    stack: list[tuple[int, str]] = []
    for block in blocks:
        if block.kind == "heading":
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text))
            sections.append(Section(heading_path=[text for _, text in stack]))
        else:
            sections[-1].blocks.append(block)
    return [section for section in sections if section.blocks]


def merge_small_siblings(sections: list[Section], target: int) -> list[Section]:
    """Fold tiny subsections into their parent's section (or a run of tiny siblings together)."""
    small = max(target // 16, 1)  # one-line stubs; anything with substance keeps its own citation
    merged: list[Section] = []
    for section in sections:
        if merged and _can_merge(merged[-1], section, small, target):
            previous = merged[-1]
            parent = section.heading_path[:-1]
            if previous.heading_path != parent:  # a tiny sibling: lift it under the parent too
                previous.blocks.insert(0, _heading_line(previous))
                previous.heading_path = parent
            previous.blocks += [_heading_line(section), *section.blocks]
        else:
            merged.append(Section(heading_path=list(section.heading_path), blocks=list(section.blocks)))
    return merged


def _can_merge(previous: Section, section: Section, small: int, target: int) -> bool:
    parent = section.heading_path[:-1]
    if not parent or section.tokens >= small:
        return False
    is_parent = previous.heading_path == parent
    is_small_sibling = previous.heading_path[:-1] == parent and previous.tokens < small
    size = previous.tokens + section.tokens + estimate_tokens(section.heading_path[-1])
    return (is_parent or is_small_sibling) and size <= target


def _heading_line(section: Section) -> Block:
    first = section.blocks[0].index if section.blocks else 0
    return Block(kind="subheading", text=section.heading_path[-1], index=first)


def _units(block: Block, target: int) -> list[_Unit]:
    if block.kind == "table" and estimate_tokens(block.text) > target:
        return _table_pieces(block, target)
    tokens = estimate_tokens(block.text)
    if tokens <= target:
        return [_Unit(block.text, tokens, block.index, block.kind != "table")]
    units, current = [], ""
    for sentence in SENTENCE_END.split(block.text):
        candidate = f"{current} {sentence}".strip()
        if current and estimate_tokens(candidate) > target:
            units.append(_Unit(current, estimate_tokens(current), block.index))
            current = sentence
        else:
            current = candidate
        while estimate_tokens(current) > target:  # one "sentence" longer than a chunk: cut it
            joiner = " " if " " in current else ""  # CJK text has no spaces: cut by characters
            words = current.split(" ") if joiner else list(current)
            cut = max(1, len(words) * target // max(estimate_tokens(current), 1))
            head, current = joiner.join(words[:cut]), joiner.join(words[cut:])
            units.append(_Unit(head, estimate_tokens(head), block.index))
    if current:
        units.append(_Unit(current, estimate_tokens(current), block.index))
    return units


def _table_pieces(block: Block, target: int) -> list[_Unit]:
    header, body = block.rows[: block.header_rows], block.rows[block.header_rows :]
    header_tokens = estimate_tokens(render_table(header, len(header)))
    pieces, rows = [], []
    for row in body:
        if estimate_tokens(render_table(header + [row], len(header))) > target:
            # One row larger than a chunk: flush, then cut the row's "column: value" text.
            if rows:
                text = render_table(header + rows, len(header))
                pieces.append(_Unit(text, estimate_tokens(text), block.index, False))
                rows = []
            names = header[-1] if header else [""] * len(row)
            pairs = "; ".join(
                f"{name}: {cell}" if name else cell for name, cell in zip(names, row, strict=False) if cell
            )
            for unit in _units(Block(kind="paragraph", text=pairs, index=block.index), target):
                unit.splittable_overlap = False
                pieces.append(unit)
            continue
        candidate = render_table(header + rows + [row], len(header))
        if rows and estimate_tokens(candidate) > max(target, header_tokens * 2):
            text = render_table(header + rows, len(header))
            pieces.append(_Unit(text, estimate_tokens(text), block.index, False))
            rows = []
        rows.append(row)
    if rows or not pieces:
        text = render_table(header + rows, len(header))
        pieces.append(_Unit(text, estimate_tokens(text), block.index, False))
    return pieces


def _pack(section: Section, target: int, overlap: int) -> list[ChunkDraft]:
    units = [unit for block in section.blocks for unit in _units(block, target)]
    chunks: list[ChunkDraft] = []
    current: list[_Unit] = []
    fresh = 0  # units in `current` that no earlier chunk holds

    def emit() -> None:
        chunks.append(
            ChunkDraft(
                heading_path=section.heading_path,
                text="\n\n".join(unit.text for unit in current),
                token_count=sum(unit.tokens for unit in current),
                block_start=min(unit.block for unit in current),
                block_end=max(unit.block for unit in current),
            )
        )

    for unit in units:
        if fresh and sum(u.tokens for u in current) + unit.tokens > target:
            emit()
            carried: list[_Unit] = []
            for previous in reversed(current):
                if (
                    not previous.splittable_overlap
                    or sum(u.tokens for u in carried) + previous.tokens > overlap
                ):
                    break
                carried.insert(0, previous)
            current, fresh = carried, 0
        current.append(unit)
        fresh += 1
    if fresh:
        emit()
    return chunks


def chunk_blocks(blocks: list[Block], target: int, overlap: int) -> list[ChunkDraft]:
    """Chunk a parsed document's blocks; the result is in document order."""
    sections = merge_small_siblings(split_into_sections(blocks), target)
    return [chunk for section in sections for chunk in _pack(section, target, overlap)]
