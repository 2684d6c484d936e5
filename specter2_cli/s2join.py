"""Semantic Scholar `papers` + `abstracts` datasets -> one Parquet file to embed.

The two datasets are separate gzip JSON-lines shards keyed by `corpusid`;
`abstracts` covers only some papers. DuckDB joins them out of core (the hash
join spills to --temp-dir, memory stays under --memory-limit at ~200M papers)
into Parquet with columns corpusid, title, abstract (null when the paper has
none), year, doi, arxiv. Then: `specter2 embed joined.parquet --preset s2 -o OUT`.

    python -m specter2_cli.s2join --papers 'papers/*.gz' --abstracts 'abstracts/*.gz' \\
        -o joined.parquet --memory-limit 8GB --temp-dir /scratch/duck

Each side takes several files or quoted globs (`--papers a.gz b.gz 'more/*.gz'`). The
first record of every file is looked at before the join: a file of the other dataset
(an `abstracts` shard given as papers) is refused, naming it.

Needs the optional `duckdb` package: pip install 'specter2-cli[s2]'.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys

from .errors import EnvironmentProblem, InputError, Specter2Error, UsageError

SQL = """
COPY (
  SELECT p.corpusid, p.title, a.abstract, p.year,
         p.externalids.DOI AS doi, p.externalids.ArXiv AS arxiv
  FROM read_json({papers}, format='newline_delimited', compression='gzip',
         columns={{corpusid: 'BIGINT', title: 'VARCHAR', year: 'INTEGER',
                  externalids: 'STRUCT(DOI VARCHAR, ArXiv VARCHAR)'}}) AS p
  LEFT JOIN read_json({abstracts}, format='newline_delimited', compression='gzip',
         columns={{corpusid: 'BIGINT', abstract: 'VARCHAR'}}) AS a
  USING (corpusid)
  WHERE p.corpusid IS NOT NULL
) TO {out} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {row_group})
"""


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _files(side: str, patterns: list[str]) -> list[str]:
    """The files a side names (globs expanded, sorted), each checked to hold that dataset."""
    from .inputs.compressed import READ_ERRORS
    from .inputs.sniff import s2_dataset

    files: list[str] = []
    for pat in patterns:
        found = sorted(glob.glob(pat)) if glob.has_magic(pat) else [pat]
        found = [f for f in found if os.path.isfile(f)] if glob.has_magic(pat) else found
        if not found:
            raise InputError(f"--{side} {pat}: the pattern matches no file")
        files += found
    other = "abstracts" if side == "papers" else "papers"
    for f in files:
        if not os.path.isfile(f):
            raise InputError(f"--{side} {f}: no such file")
        try:
            with gzip.open(f, "rt", encoding="utf-8") as fh:
                line = fh.readline()
        except (*READ_ERRORS, UnicodeDecodeError) as e:
            raise InputError(f"--{side} {f}: not a gzip JSON-lines S2 shard ({e})") from e
        try:
            first = json.loads(line) if line.strip() else None
        except ValueError as e:
            raise InputError(f"--{side} {f}:1: not JSON lines ({e})") from e
        if first is not None and s2_dataset(first) == other:
            raise InputError(
                f"--{side} {f}: its records are S2 `{other}` records (fields: "
                f"{', '.join(list(first)[:8])}); give it as --{other}"
            )
        if first is not None and (not isinstance(first, dict) or "corpusid" not in first):
            raise InputError(f"--{side} {f}:1: not an S2 `{side}` record (no corpusid)")
    return files


def _sql_list(files: list[str]) -> str:
    return "[" + ", ".join(_quote(f) for f in files) + "]"


def join_s2(
    papers: str | list[str],
    abstracts: str | list[str],
    out: str,
    memory_limit: str = "4GB",
    temp_dir: str | None = None,
    threads: int | None = None,
    row_group: int = 100_000,
) -> int:
    """Join the datasets (globs or files, one or several per side) into Parquet at `out`;
    returns the number of rows. A file holding the other dataset is refused first."""
    if os.path.exists(out):
        raise UsageError(f"{out} exists; choose a new output file (it is never overwritten)")
    paper_files = _files("papers", [papers] if isinstance(papers, str) else papers)
    abstract_files = _files("abstracts", [abstracts] if isinstance(abstracts, str) else abstracts)
    try:
        import duckdb
    except ImportError as e:
        raise EnvironmentProblem(
            "the S2 join needs duckdb: pip install 'specter2-cli[s2]' (or pip install duckdb)"
        ) from e
    con = duckdb.connect()
    con.execute(f"SET memory_limit={_quote(memory_limit)}")
    con.execute(f"SET temp_directory={_quote(temp_dir or out + '.tmp')}")
    con.execute("SET preserve_insertion_order=false")  # lets COPY stream
    if threads:
        con.execute(f"SET threads={int(threads)}")
    tmp = out + ".partial"
    sql = SQL.format(
        papers=_sql_list(paper_files),
        abstracts=_sql_list(abstract_files),
        out=_quote(tmp),
        row_group=row_group,
    )
    try:
        con.execute(sql)
    except duckdb.Error as e:
        raise InputError(f"S2 join failed: {e}") from e
    os.replace(tmp, out)
    rows = con.execute(f"SELECT count(*) FROM read_parquet({_quote(out)})").fetchone()
    return int(rows[0]) if rows else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m specter2_cli.s2join", description=__doc__)
    ap.add_argument(
        "--papers", required=True, nargs="+", help="papers shards: files or quoted globs"
    )
    ap.add_argument(
        "--abstracts", required=True, nargs="+", help="abstracts shards: files or quoted globs"
    )
    ap.add_argument("-o", "--output", required=True, help="Parquet file to write")
    ap.add_argument("--memory-limit", default="4GB", help="DuckDB memory limit (default 4GB)")
    ap.add_argument("--temp-dir", help="where the join spills (default OUTPUT.tmp)")
    ap.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    a = ap.parse_args(argv)
    try:
        n = join_s2(a.papers, a.abstracts, a.output, a.memory_limit, a.temp_dir, a.threads)
    except Specter2Error as e:
        print(f"s2join: error: {e}", file=sys.stderr)
        return e.exit_code
    print(f"s2join: wrote {n} papers to {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
