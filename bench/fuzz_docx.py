"""Fuzz the .docx upload path with mutations of real files: only clean errors, bounded memory.

    .venv/bin/python bench/fuzz_docx.py [--iterations 2000] [--seed 1] [--memory-limit-mb 1024]
        [--corpus ../shared/eval/docx] [--save-crashes DIR] [--json bench/results/fuzz_docx.json]

Each iteration takes a real .docx from the corpus, damages it (toolkitrag/testing/docx_mutations.py:
flipped or truncated container, flipped/truncated/duplicated XML, dropped members and tags,
hostile attribute values, 10,000-deep nesting, entity expansion) and runs what an upload runs:
validation, parsing and chunking. An outcome is "accepted" (it still parses), "rejected" (a
DocxRejected with a sentence for the uploader) or a CRASH: any other exception, more than
--case-seconds, or running out of the address-space limit (RLIMIT_AS, --memory-limit-mb).
Prints counts, the slowest case and peak RSS; exits 1 on any crash. The test suite runs this
with a few hundred iterations (toolkit/tests/test_docx_fuzzing.py).
"""

import argparse
import io
import json
import os
import random
import resource
import signal
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "toolkitrag.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


class CaseTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CaseTimeout


def peak_rss_kb() -> int:
    """This process's peak RSS. Not ru_maxrss: Linux carries that across fork and exec, so a
    benchmark started by a large process (a test run that loaded a model) reports the parent's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "eval" / "docx")
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--case-seconds", type=int, default=20)
    parser.add_argument("--save-crashes", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from toolkit.chunking import chunk_blocks
    from toolkit.docx_validation import DocxRejected
    from toolkit.uploads import check_upload
    from toolkitrag.testing.docx_mutations import mutate

    files = sorted(args.corpus.glob("*.docx"))
    if not files:
        print(f"no .docx files in {args.corpus}", file=sys.stderr)
        return 2
    originals = {path.name: path.read_bytes() for path in files}
    limit = args.memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    signal.signal(signal.SIGALRM, on_alarm)

    rng = random.Random(args.seed)
    outcomes: Counter = Counter()
    reasons: Counter = Counter()
    crashes = []
    slowest = (0.0, "")
    began = time.perf_counter()
    for iteration in range(args.iterations):
        name = rng.choice(sorted(originals))
        what, data = mutate(originals[name], rng)
        case = f"#{iteration} {name}: {what}"
        started = time.perf_counter()
        signal.alarm(args.case_seconds)
        try:
            parsed = check_upload(io.BytesIO(data), "fuzz.docx")
            chunk_blocks(parsed.blocks, settings.CHUNK_TARGET_TOKENS, settings.CHUNK_OVERLAP_TOKENS)
            outcomes["accepted"] += 1
        except DocxRejected as error:
            outcomes["rejected"] += 1
            reasons[" ".join(str(error).split()[:5])] += 1
        except (Exception, MemoryError, CaseTimeout) as error:  # a crash, whatever it is
            outcomes["CRASH"] += 1
            crashes.append({"case": case, "error": f"{type(error).__name__}: {error}"[:300],
                            "where": traceback.format_exc().strip().splitlines()[-3:]})  # fmt: skip
            if args.save_crashes:
                args.save_crashes.mkdir(parents=True, exist_ok=True)
                (args.save_crashes / f"crash-{args.seed}-{iteration}.docx").write_bytes(data)
        finally:
            signal.alarm(0)
        seconds = time.perf_counter() - started
        if seconds > slowest[0]:
            slowest = (seconds, case)

    elapsed = time.perf_counter() - began
    peak_mb = peak_rss_kb() / 1024
    result = {
        "iterations": args.iterations,
        "seed": args.seed,
        "files": len(originals),
        "outcomes": dict(outcomes),
        "crashes": crashes,
        "top_reasons": reasons.most_common(8),
        "slowest_case_s": round(slowest[0], 3),
        "slowest_case": slowest[1],
        "peak_rss_mb": round(peak_mb, 1),
        "memory_limit_mb": args.memory_limit_mb,
        "seconds": round(elapsed, 1),
    }
    print(f"{args.iterations} mutated uploads of {len(originals)} real .docx files in {elapsed:.1f} s")
    print(
        f"accepted {outcomes['accepted']}, rejected with a message {outcomes['rejected']}, crashes {outcomes['CRASH']}"
    )
    for reason, count in reasons.most_common(8):
        print(f"  {count:5} × {reason}…")
    print(
        f"slowest case {slowest[0]:.2f} s ({slowest[1]}); peak RSS {peak_mb:.0f} MB (limit {args.memory_limit_mb} MB)"
    )
    for crash in crashes[:20]:
        print(f"CRASH {crash['case']}: {crash['error']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
