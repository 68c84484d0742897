"""Price a bill run: ``manage.py import_usage FILE`` (CSV or JSON Lines)."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing_portal.errors import DomainError
from sharing.bill_run import ImportFileError, import_usage


class Command(BaseCommand):
    help = (
        "Import usage records from a CSV (with a header row) or JSON Lines file "
        "and price them set-wise. Safe to run again: records already priced are "
        "skipped. Columns: external_id, account (id) or account_uid, product, "
        "bill_type, usage_start, usage_end, amount, billed_at and optionally "
        "instance_type, region, quantity."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the file, or - for standard input")
        parser.add_argument(
            "--format",
            choices=["csv", "jsonl"],
            help="default: from the file name (.csv, .jsonl/.ndjson)",
        )
        parser.add_argument(
            "--source",
            default="import",
            help="the metering source; external ids are unique per source",
        )
        parser.add_argument("--chunk-size", type=int, default=50_000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, file, format, source, chunk_size, no_progress, **opts):
        fmt = format or _format_of(file)
        started = time.monotonic()

        def progress(done, total):
            if no_progress:
                return
            width = 30
            filled = width * done // max(total, 1)
            rate = done / max(time.monotonic() - started, 1e-9)
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
                f" records priced ({rate:,.0f}/s)"
            )
            sys.stderr.flush()
            if done >= total:
                sys.stderr.write("\n")

        try:
            if file == "-":
                result = _run(sys.stdin, fmt, source, chunk_size, progress)
            else:
                with Path(file).open(encoding="utf-8-sig", newline="") as stream:
                    result = _run(stream, fmt, source, chunk_size, progress)
        except (ImportFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        except DomainError as exc:
            # A chunk was refused whole (nothing of it written); earlier
            # chunks stay priced and a run after the fix goes on from there.
            raise CommandError(
                "; ".join(f"{r.code}: {r.message}" for r in exc.reasons)
            ) from exc
        for line, why in result.rejected[:100]:
            self.stderr.write(f"line {line}: rejected: {why}")
        for line, external_id in result.conflicts[:100]:
            self.stderr.write(
                f"line {line}: conflict: {external_id} was priced with other content"
            )
        more = len(result.rejected) + len(result.conflicts) - 200
        if more > 0:
            self.stderr.write(f"… and {more} more")
        self.stdout.write(
            f"{result.read} read, {result.priced} priced, {result.skipped} already "
            f"priced, {len(result.conflicts)} conflicts, {len(result.rejected)} "
            f"rejected in {time.monotonic() - started:.1f} s"
        )


def _run(stream, fmt, source, chunk_size, progress):
    return import_usage(
        stream, fmt=fmt, source=source, chunk_size=chunk_size, progress=progress
    )


def _format_of(file: str) -> str:
    suffix = Path(file).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise CommandError("give --format csv or --format jsonl")
